// Boost.JSON is header-only; its definitions are compiled here, once for the whole program, in
// the library rdpgate_boost_json that rdpgate_security and rdpgate_admin both link. A second
// translation unit including <boost/json/src.hpp> would define every symbol twice.
#include <boost/json/src.hpp>
