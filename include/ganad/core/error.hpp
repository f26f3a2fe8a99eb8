/// The exceptions ganad throws at its boundaries (user input, files). Every message says
/// what was expected and what was found. Kernels never throw.
#pragma once

#include <stdexcept>
#include <string>

namespace ganad {

/// Base of every ganad exception: catch this to catch them all.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// A run-time size does not fit the compile-time shape (wrong columns, wrong batch).
struct ShapeError : Error {
  using Error::Error;
};
/// A value is not acceptable: NaN or infinity in an input, an option out of range.
struct ValueError : Error {
  using Error::Error;
};
/// A scorer or detector was asked for scores or decisions before it was fitted (or, for
/// decisions, before a threshold was set), as scikit-learn's NotFittedError.
struct NotFittedError : Error {
  using Error::Error;
};
/// Training stopped because its losses stopped being finite (the GAN diverged).
struct TrainingError : Error {
  using Error::Error;
};
/// A file could not be opened, read or written.
struct IoError : Error {
  using Error::Error;
};
/// A file was read but its content is wrong: bad magic, truncated, corrupt, other architecture.
struct FormatError : Error {
  using Error::Error;
};

}  // namespace ganad
