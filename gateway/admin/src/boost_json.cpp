// Boost.JSON, header-only: its definitions are compiled in this one translation unit and
// nowhere else in rdpgate_admin. The file holds nothing else on purpose: when another library
// of the gateway compiles Boost.JSON the same way, the linker takes this object from the
// archive only if nothing defined those symbols yet, so the two never collide.
#include <boost/json/src.hpp>
