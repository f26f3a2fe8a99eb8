/// Storage and views: 64-byte aligned vectors (huge-page backed when large, since a fresh
/// 4 KiB page costs about 15 us here), batch views over contiguous NCHW data, and Batch,
/// an owning buffer that grows only when a larger batch arrives.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "ganad/config.hpp"
#include "ganad/core/error.hpp"
#include "ganad/core/shape.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace ganad {

namespace detail {
inline constexpr std::size_t cache_line = 64;
inline constexpr std::size_t huge_page = std::size_t(2) << 20;

/// Counts ganad's buffer allocations, so tests can check that a steady-state call allocates
/// nothing (design.md, Performance budget).
inline std::atomic<std::size_t>& allocation_counter() {
  static std::atomic<std::size_t> count{0};
  return count;
}

/// 64-byte aligned; from 2 MiB up aligned to 2 MiB and marked for transparent huge pages.
inline void* aligned_allocate(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  // Rounding up to 2 MiB must stay below the largest object size (g++ 12 -O3 checks it).
  if (bytes > std::size_t(PTRDIFF_MAX) - huge_page) throw std::bad_alloc();
  const std::size_t align = bytes >= huge_page ? huge_page : cache_line;
  const std::size_t rounded = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
  allocation_counter().fetch_add(1, std::memory_order_relaxed);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == huge_page) ::madvise(p, rounded, MADV_HUGEPAGE);  // a hint; failure is harmless
#endif
  return p;
}
}  // namespace detail

/// Number of buffers ganad has allocated so far in this process.
inline std::size_t buffer_allocations() {
  return detail::allocation_counter().load(std::memory_order_relaxed);
}

/// std::allocator replacement giving the alignment the kernels' aligned loads rely on.
template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(detail::aligned_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept { return true; }
};
template <class T>
using aligned_vector = std::vector<T, AlignedAllocator<T>>;

/// A non-owning view of `batch` samples of shape S, stored one after another (NCHW).
/// BatchView<const T, S> is the read-only view; a mutable view converts to it.
template <class T, ShapeType S>
struct BatchView {
  using shape = S;
  T* data = nullptr;
  int batch = 0;

  constexpr BatchView() = default;
  constexpr BatchView(T* d, int n) : data(d), batch(n) {}
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  constexpr BatchView(BatchView<U, S> other) : data(other.data), batch(other.batch) {}

  /// View over a flat span holding whole samples; ShapeError if it does not divide evenly.
  static BatchView from_span(std::span<T> values) {
    if (values.size() % S::size != 0)
      throw ShapeError("BatchView: " + std::to_string(values.size()) +
                       " values are not a whole number of samples of shape " +
                       shape_string<S>() + " (" + std::to_string(S::size) + " values each)");
    return {values.data(), int(values.size() / S::size)};
  }

  [[nodiscard]] constexpr std::size_t size() const { return std::size_t(batch) * S::size; }
  [[nodiscard]] constexpr bool empty() const { return data == nullptr; }
  [[nodiscard]] T* sample(int n) const { return data + std::size_t(n) * S::size; }
  [[nodiscard]] std::span<T> flat() const { return {data, size()}; }
};
template <class T, ShapeType S>
using ConstBatchView = BatchView<const T, S>;

/// Owning storage for up to capacity() samples of shape S. resize() never shrinks the
/// allocation, so a network that sees the same batch size again allocates nothing.
template <class T, ShapeType S>
class Batch {
 public:
  Batch() = default;
  explicit Batch(int batch) { resize(batch); }

  void resize(int batch) {
    GANAD_ASSERT(batch >= 0, "Batch::resize: negative batch");
    if (batch > 0 && std::size_t(batch) * S::size > values_.size()) values_.resize(std::size_t(batch) * S::size);
    batch_ = batch;
  }
  [[nodiscard]] int batch() const { return batch_; }
  [[nodiscard]] int capacity() const { return int(values_.size() / S::size); }
  [[nodiscard]] T* data() { return values_.data(); }
  [[nodiscard]] const T* data() const { return values_.data(); }
  [[nodiscard]] BatchView<T, S> view() { return {values_.data(), batch_}; }
  [[nodiscard]] ConstBatchView<T, S> view() const { return {values_.data(), batch_}; }
  [[nodiscard]] std::span<T> flat() { return {values_.data(), std::size_t(batch_) * S::size}; }
  [[nodiscard]] std::span<const T> flat() const {
    return {values_.data(), std::size_t(batch_) * S::size};
  }

 private:
  aligned_vector<T> values_;
  int batch_ = 0;
};

}  // namespace ganad
