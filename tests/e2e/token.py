"""A token service for the registry's bearer authentication, for the tests.

The distribution registry, configured with ``auth: token``, answers 401
with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``; a client
then asks this service for a JWT (signed RS256 with a throwaway key, its
certificate in the ``x5c`` header, and trusted by the registry through
``rootcertbundle``).  Anonymous clients get pull rights on ``public/*``;
``alice`` (HTTP basic to this service) gets pull and push everywhere.
"""
import base64
import json
import os
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE, ISSUER = "minirun-test-registry", "minirun-test-issuer"
USERS = {"alice": "wonderland"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, directory: str):
        self.key = os.path.join(directory, "token.key")
        self.cert = os.path.join(directory, "token.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        self.key, "-out", self.cert, "-days", "1", "-subj", "/CN=token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"],
                             check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                user = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    name, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    if USERS.get(name) != pw:
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = name
                access = []
                for scope in query.get("scope", []):
                    kind, name, actions = scope.split(":")
                    allowed = actions.split(",") if user else \
                        (["pull"] if name.startswith("public/") else [])
                    access.append({"type": kind, "name": name,
                                   "actions": [a for a in actions.split(",") if a in allowed]})
                body = json.dumps({"token": server.sign(user or "", access)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def sign(self, subject: str, access: list) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = f"{b64url(json.dumps(header).encode())}." \
                        f"{b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                             input=signing_input.encode(), check=True,
                             capture_output=True).stdout
        return f"{signing_input}.{b64url(sig)}"

    def registry_config(self) -> str:
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {SERVICE}\n"
                f"    issuer: {ISSUER}\n    rootcertbundle: {self.cert}\n")

    def stop(self) -> None:
        self.httpd.shutdown()
