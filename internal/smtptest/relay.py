"""An SMTP relay for otpgate's tests (Debian's python3-aiosmtpd 1.4.3).

Writes each accepted message to DIR as NNN.eml (the bytes as received) with
NNN.json beside it (envelope, whether TLS and AUTH were used), the .json
last, so a reader that sees it sees the whole message. RCPT TO an address
starting "reject" is answered 550, one starting "later" 451. Prints READY
once listening; stops when stdin closes.
"""
import argparse, asyncio, json, os, ssl, sys, threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, directory):
        self.directory, self.n, self.lock = directory, 0, threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            # The address in the relay's own case, as some relays quote it.
            return "550 5.1.1 <%s>: mailbox unavailable" % address.upper()
        if address.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            base = os.path.join(self.directory, "%d-%06d" % (os.getpid(), self.n))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None, "auth": bool(session.authenticated),
                "peer": "%s:%s" % tuple(session.peer[:2])}
        with open(base + ".tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".tmp", base + ".json")
        return "250 2.0.0 accepted"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()
    kw = {}
    ctx = None
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
    if a.user:
        def auth(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.login.decode() == a.user and data.password.decode() == a.password
            return AuthResult(success=ok)
        kw.update(authenticator=auth, auth_required=True)
    if ctx and a.implicit_tls:
        kw["ssl_context"] = ctx
    elif ctx:
        kw["tls_context"] = ctx
    c = Controller(Handler(a.dir), hostname="127.0.0.1", port=a.port, **kw)
    c.start()
    print("READY", flush=True)
    sys.stdin.read()
    c.stop()


main()
