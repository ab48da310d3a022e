"""minirun login: check credentials against the registry, then keep them."""
from minirun.engine.images import registries
from minirun.engine.images.registry import AuthRequired, Client
from minirun.errors import MiniRunError


def login(registry: str, user: str, password: str, tls_verify: bool | None = None) -> str:
    conf = registries.load()
    insecure = conf.insecure(registry) if tls_verify is None else not tls_verify
    client = Client(registry, insecure=insecure, credentials=(user, password))
    try:
        client.ping()
    except AuthRequired:
        raise MiniRunError(f"logging in to {registry}: the registry refused "
                           f"{user!r}: check the name and password") from None
    return registries.store_credentials(registry, user, password)
