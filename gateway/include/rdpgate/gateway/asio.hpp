#pragma once
// The Asio names the gateway uses, in one place.
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace rdpgate::gateway {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// A session's sockets live on one worker's io_context. Naming its executor type instead of
// any_io_executor keeps 48 bytes out of every socket and every pending operation of every
// session (an idle session is two sockets and three pending waits).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
}  // namespace rdpgate::gateway
