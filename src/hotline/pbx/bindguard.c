/* bindguard: preloaded into Asterisk (LD_PRELOAD) so it never binds a UDP socket to the
 * wildcard address. Asterisk 22's res_pjsip always creates PJSIP's own DNS resolver
 * (res_pjsip/config_system.c, system_create_resolver_and_set_nameservers): glibc always
 * reports at least one nameserver (127.0.0.1 when resolv.conf names none), and pjlib-util's
 * resolver binds one UDP socket to 0.0.0.0 and one to [::] on random ports, with no option
 * to choose the address or to turn it off. SIP names are resolved by Asterisk's own DNS core
 * (res_pjsip's external resolver), so those sockets only ever listen.
 *
 * Every UDP bind() to a wildcard address is caught, not only the resolver's: a bind() to
 * 0.0.0.0 is bound to HOTLINE_BIND_ADDR (the site's asterisk.bind when it is IPv4) instead, and
 * one to [::] to HOTLINE_BIND_ADDR6 (asterisk.bind when it is IPv6). So it also moves any RTP
 * socket res_rtp_asterisk would bind to the wildcard (an endpoint without
 * bind_rtp_to_media_address) onto the bind address. When the variable of that family is
 * empty or unset (asterisk.bind is of the other family), the bind() fails with EADDRNOTAVAIL:
 * pjlib skips its IPv6 resolver socket then; with an IPv6 asterisk.bind the IPv4 resolver socket
 * fails too, so PJSIP's own resolver is not created (Asterisk logs it; SIP names go through
 * Asterisk's DNS core, as said above). TCP and explicit addresses pass unchanged. Built by
 * `hotline asterisk install` into the chroot (gcc on the host). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

static int is_udp(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static bind_fn real;
	if (!real) {
		real = (bind_fn)dlsym(RTLD_NEXT, "bind");
		if (!real) {
			errno = ENOSYS;
			return -1;
		}
	}
	if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in) && is_udp(fd)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		const char *want = getenv("HOTLINE_BIND_ADDR");
		struct sockaddr_in fixed;
		if (in->sin_addr.s_addr == htonl(INADDR_ANY)) {
			if (!want || !*want) {
				errno = EADDRNOTAVAIL;
				return -1;
			}
			fixed = *in;
			if (inet_pton(AF_INET, want, &fixed.sin_addr) != 1) {
				errno = EADDRNOTAVAIL;
				return -1;
			}
			return real(fd, (const struct sockaddr *)&fixed, sizeof(fixed));
		}
	} else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6) && is_udp(fd)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		const char *want = getenv("HOTLINE_BIND_ADDR6");
		struct sockaddr_in6 fixed;
		if (memcmp(&in6->sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0) {
			if (!want || !*want) {
				errno = EADDRNOTAVAIL;
				return -1;
			}
			fixed = *in6;
			if (inet_pton(AF_INET6, want, &fixed.sin6_addr) != 1) {
				errno = EADDRNOTAVAIL;
				return -1;
			}
			return real(fd, (const struct sockaddr *)&fixed, sizeof(fixed));
		}
	}
	return real(fd, addr, len);
}
