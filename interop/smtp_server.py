#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for countersign-mail's tests, not our code.

Usage: smtp_server.py --maildir DIR [--host H] [--port P]
                      [--tls-cert PEM --tls-key PEM [--implicit-tls]]
                      [--auth-user U --auth-password P] [--fail-rcpt ADDRESS]

Each accepted message is written to DIR/<n>.eml (n = 1, 2, ...) exactly as
received, through a temporary name and a rename, so a reader never sees half
a message. The file exists before the server answers 250 to the DATA.

With --tls-cert/--tls-key the server offers STARTTLS and refuses MAIL before
it (530); with --implicit-tls as well, the listener speaks TLS from the first
byte instead (RFC 8314 "submissions") and offers no STARTTLS. Without them
there is no TLS at all, which is how the tests check that a client refuses a
server that does not offer STARTTLS.

With --auth-user/--auth-password, AUTH PLAIN and LOGIN are required before
MAIL and other credentials are answered with 535. --fail-rcpt answers 550 for
that one recipient.

Prints "ready <port>" on stdout once listening (so --port 0 works), and exits
with status 0 on SIGTERM or SIGINT. Requires aiosmtpd==1.4.6
(`bash .ci/deps`).
"""

import argparse
import asyncio
import itertools
import os
import signal
import ssl
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError as e:
    print(f"smtp_server: {e}; run `bash .ci/deps`", file=sys.stderr)
    sys.exit(3)


class Maildir:
    """The aiosmtpd handler: accepts, refuses and stores messages."""

    def __init__(self, directory, fail_rcpt):
        self.directory = directory
        self.fail_rcpt = fail_rcpt.lower() if fail_rcpt else None
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.fail_rcpt is not None and address.lower() == self.fail_rcpt:
            return f"550 5.1.1 <{address}>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.numbers)
        final = os.path.join(self.directory, f"{n}.eml")
        # The temporary name does not end in .eml, so a reader listing
        # *.eml never picks it up; rename is atomic within one directory.
        temporary = os.path.join(self.directory, f".{n}.eml.tmp")
        with open(temporary, "wb") as f:
            f.write(envelope.original_content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temporary, final)
        return f"250 2.0.0 OK queued as {n}"


class Credentials:
    """The aiosmtpd authenticator: one user, PLAIN or LOGIN."""

    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            mechanism in ("PLAIN", "LOGIN")
            and isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        # A failure with handled=False makes aiosmtpd answer
        # "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=ok, handled=False)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--maildir", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth-user")
    p.add_argument("--auth-password")
    p.add_argument("--fail-rcpt")
    args = p.parse_args()
    if (args.tls_cert is None) != (args.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    if args.implicit_tls and args.tls_cert is None:
        p.error("--implicit-tls needs --tls-cert and --tls-key")
    if (args.auth_user is None) != (args.auth_password is None):
        p.error("--auth-user and --auth-password go together")
    if not os.path.isdir(args.maildir):
        p.error(f"--maildir {args.maildir} is not a directory")
    return args


async def serve(args):
    loop = asyncio.get_running_loop()
    tls = None
    if args.tls_cert is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    starttls = tls if tls is not None and not args.implicit_tls else None
    handler = Maildir(args.maildir, args.fail_rcpt)
    authenticator = None
    if args.auth_user is not None:
        authenticator = Credentials(args.auth_user, args.auth_password)

    def smtp():
        return SMTP(
            handler,
            # A fixed name keeps aiosmtpd from a reverse DNS lookup
            # (socket.getfqdn) that can stall a sandboxed test machine.
            hostname="smtp.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            authenticator=authenticator,
            auth_required=authenticator is not None,
            # aiosmtpd only counts STARTTLS as TLS, so with implicit TLS
            # (and on a plain test listener) AUTH must be allowed without it.
            auth_require_tls=starttls is not None,
            loop=loop,
        )

    server = await loop.create_server(
        smtp,
        host=args.host,
        port=args.port,
        ssl=tls if args.implicit_tls else None,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = server.sockets[0].getsockname()[1]
    print(f"ready {port}", flush=True)
    await stop.wait()
    server.close()
    # Python 3.12 and later wait here for open connections too; a client
    # that never says QUIT must not keep the process alive.
    if hasattr(server, "close_clients"):
        server.close_clients()
    try:
        await asyncio.wait_for(server.wait_closed(), timeout=5)
    except asyncio.TimeoutError:
        pass


def main():
    args = parse_args()
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
