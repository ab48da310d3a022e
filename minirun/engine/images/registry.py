"""A client of the OCI distribution API (the registry protocol).

    GET  /v2/                                  ping; 401 says how to log in
    GET  /v2/<name>/manifests/<tag|digest>     a manifest or an index
    GET  /v2/<name>/blobs/<digest>             a blob (Range: to resume)
    HEAD /v2/<name>/blobs/<digest>             does the registry have it?
    POST /v2/<name>/blobs/uploads/             start an upload; PUT ?digest= ends it
         ...?mount=<digest>&from=<other name>  or mount a blob another repository has
    PUT  /v2/<name>/manifests/<tag>            publish a manifest

Authentication follows the 401 challenge: ``Bearer realm=..,service=..``
means fetching a token (anonymously, or with the user's credentials) and
retrying; ``Basic`` means sending the credentials.  HTTP goes through
urllib3 (connection reuse, streaming, retries).

See: distribution-spec spec.md; Docker's token authentication specification
"""
import base64
import json
import re
import urllib.parse

from minirun.errors import MiniRunError

CHUNK = 1 << 20


class RegistryError(MiniRunError):
    """The registry refused or failed a request; the message has its answer."""


class NotFound(RegistryError):
    """The registry has no such repository, tag or blob."""


class AuthRequired(RegistryError):
    """The registry wants credentials: `minirun login REGISTRY`."""


def _challenge(header: str) -> tuple[str, dict]:
    scheme, _, rest = header.partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class Client:
    def __init__(self, domain: str, *, insecure: bool = False,
                 credentials: tuple[str, str] | None = None):
        import urllib3
        self.domain = domain
        self.credentials = credentials
        self.insecure = insecure
        self.http = urllib3.PoolManager(
            maxsize=16, retries=urllib3.Retry(total=3, backoff_factor=0.2, redirect=5,
                                             status_forcelist=(502, 503, 504)),
            cert_reqs="CERT_NONE" if insecure else "CERT_REQUIRED")
        if insecure:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.scheme = "https"
        self.known = False                # whether the scheme has worked once
        self.tokens: dict[str, str] = {}
        self.basic = False

    # --- transport ---------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.domain}{path}"

    def _raw(self, method: str, path: str, headers: dict, body=None, stream: bool = False):
        import urllib3
        # An insecure registry may speak plain HTTP: the first HTTPS attempt is
        # made once, not retried with pauses (1.4 s that every start paid)
        probe = self.insecure and self.scheme == "https" and not self.known
        try:
            r = self.http.request(method, path if "://" in path else self._url(path),
                                  headers=headers, body=body, preload_content=not stream,
                                  redirect=True, timeout=urllib3.Timeout(connect=10, read=60),
                                  **({"retries": urllib3.Retry(0, redirect=5)} if probe
                                     else {}))
            self.known = True
            return r
        except urllib3.exceptions.SSLError:
            if self.insecure and self.scheme == "https":
                self.scheme = "http"   # an insecure registry may speak plain HTTP
                return self._raw(method, path, headers, body, stream)
            raise RegistryError(f"TLS to {self.domain} failed: if it is a local registry "
                                "without TLS, mark it insecure in registries.conf or pass "
                                "--tls-verify=false") from None
        except urllib3.exceptions.MaxRetryError as e:
            if "SSL" in str(e.reason):
                if self.insecure and self.scheme == "https":
                    self.scheme = "http"
                    return self._raw(method, path, headers, body, stream)
                raise RegistryError(f"TLS to {self.domain} failed ({e.reason}): if it is a "
                                    "local registry without TLS, mark it insecure in "
                                    "registries.conf or pass --tls-verify=false") from None
            raise RegistryError(f"cannot reach {self.domain}: {e.reason}") from None
        except urllib3.exceptions.HTTPError as e:
            raise RegistryError(f"cannot reach {self.domain}: {e}") from None

    def request(self, method: str, path: str, scope: str, headers: dict | None = None,
                body=None, stream: bool = False, ok=(200,)):
        headers = dict(headers or {})
        for attempt in range(2):
            auth = self._auth_header(scope)
            if auth:
                headers["Authorization"] = auth
            r = self._raw(method, path, headers, body, stream)
            if r.status == 401 and attempt == 0:
                self._answer(r.headers.get("WWW-Authenticate", ""), scope)
                r.drain_conn()
                continue
            break
        if r.status in ok:
            return r
        text = r.data.decode(errors="replace")[:300] if not stream else ""
        r.drain_conn() if stream else None
        if r.status == 404:
            raise NotFound(f"{self.domain}: {method} {path}: not found {text}".strip())
        if r.status in (401, 403):
            raise AuthRequired(f"{self.domain} refused {method} {path} ({r.status}): log in "
                               f"with `minirun login {self.domain}` {text}".strip())
        raise RegistryError(f"{self.domain}: {method} {path} failed with HTTP {r.status}: {text}")

    def _auth_header(self, scope: str) -> str | None:
        if scope in self.tokens:
            return "Bearer " + self.tokens[scope]
        if self.basic and self.credentials:
            return "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        return None

    def _answer(self, header: str, scope: str) -> None:
        scheme, params = _challenge(header)
        if scheme == "basic":
            if not self.credentials:
                raise AuthRequired(f"{self.domain} requires a login: run "
                                   f"`minirun login {self.domain}`")
            self.basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise AuthRequired(f"{self.domain}: unsupported authentication challenge "
                               f"{header!r}")
        query = {"service": params.get("service", "")}
        if scope:
            query["scope"] = scope
        headers = {}
        if self.credentials:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ":".join(self.credentials).encode()).decode()
        r = self._raw("GET", params["realm"] + "?" + urllib.parse.urlencode(query), headers)
        if r.status != 200:
            raise AuthRequired(f"{self.domain}: the token service refused us ({r.status}): "
                               f"check `minirun login {self.domain}`")
        doc = json.loads(r.data)
        self.tokens[scope] = doc.get("token") or doc.get("access_token", "")

    # --- the API -------------------------------------------------------------

    def manifest(self, name: str, ref: str, accept: str) -> tuple[bytes, str]:
        from minirun.engine.images.manifest import MAX_DOCUMENT
        r = self.request("GET", f"/v2/{name}/manifests/{ref}", f"repository:{name}:pull",
                         headers={"Accept": accept}, stream=True)
        length = int(r.headers.get("Content-Length") or 0)
        if length > MAX_DOCUMENT:
            r.drain_conn()
            raise RegistryError(f"{self.domain}/{name}:{ref}: manifest of {length} bytes "
                                f"is larger than {MAX_DOCUMENT}: refused")
        data = r.read(MAX_DOCUMENT + 1)
        r.release_conn()
        return data, r.headers.get("Content-Type", "")

    def blob(self, name: str, digest: str) -> bytes:
        return self.request("GET", f"/v2/{name}/blobs/{digest}",
                            f"repository:{name}:pull").data

    def blob_chunks(self, name: str, digest: str, offset: int = 0):
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        r = self.request("GET", f"/v2/{name}/blobs/{digest}", f"repository:{name}:pull",
                         headers=headers, stream=True, ok=(200, 206))
        if offset and r.status == 200:
            r.release_conn()
            raise RegistryError("the registry ignored the Range request: cannot resume")
        try:
            yield from r.stream(CHUNK)
        finally:
            r.release_conn()

    def blob_range(self, name: str, digest: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a blob: one HTTP range request (lazy layers)."""
        r = self.request("GET", f"/v2/{name}/blobs/{digest}", f"repository:{name}:pull",
                         headers={"Range": f"bytes={start}-{end - 1}"}, ok=(200, 206))
        data = r.data
        if r.status == 200:              # the whole blob: the registry ignores ranges
            data = data[start:end]
        if len(data) != end - start:
            raise RegistryError(f"{self.domain}: {digest} bytes {start}-{end - 1}: "
                                f"{len(data)} bytes came")
        return data

    def has_blob(self, name: str, digest: str) -> bool:
        try:
            self.request("HEAD", f"/v2/{name}/blobs/{digest}", f"repository:{name}:pull,push")
            return True
        except NotFound:
            return False

    def push_blob(self, name: str, digest: str, body, size: int,
                  mount_from: str | None = None) -> None:
        """Upload a blob; with ``mount_from`` (a repository of this registry
        that has it), ask first to mount it from there: 201 means done with
        no byte sent, 202 that the registry would not (upload it, then)."""
        scope = f"repository:{name}:pull,push"
        path = f"/v2/{name}/blobs/uploads/"
        if mount_from:      # (a token without pull on it: the registry says 202)
            path += "?" + urllib.parse.urlencode({"mount": digest, "from": mount_from})
        r = self.request("POST", path, scope, ok=(201, 202))
        if r.status == 201:
            return
        location = r.headers["Location"]
        if location.startswith("/"):
            location = self._url(location)
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", scope,
                     headers={"Content-Type": "application/octet-stream",
                              "Content-Length": str(size)}, body=body, ok=(201,))

    def push_manifest(self, name: str, ref: str, data: bytes, media_type: str) -> dict:
        """PUT a manifest; the answer's headers (OCI-Subject: referrers are indexed)."""
        r = self.request("PUT", f"/v2/{name}/manifests/{ref}", f"repository:{name}:pull,push",
                         headers={"Content-Type": media_type}, body=data, ok=(201,))
        return dict(r.headers)

    def ping(self) -> None:
        self.request("GET", "/v2/", "", ok=(200,))
