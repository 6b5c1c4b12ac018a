// Boost.JSON, header-only: its definitions are compiled in this one translation unit and
// nowhere else in rdpgate_security. Keep this file alone so that a second library compiling
// Boost.JSON the same way links without duplicate symbols (the linker takes this object from
// the archive only when nothing else defined them yet).
#include <boost/json/src.hpp>
