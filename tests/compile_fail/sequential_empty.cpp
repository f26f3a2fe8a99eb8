// expect: Sequential: needs at least one layer after the input shape
#include <ganad/ganad.hpp>
int main() {
  ganad::Sequential<float, ganad::Flat<4>> net;
  (void)net;
}
