"""The network room: how a container reaches the network.

networks.py    the modes (none, host, bridge, slirp4netns, pasta), bridge
               networks with their addresses, ports and NAT, /etc/hosts
usernet.py     slirp4netns and pasta: a plain user's private network
rootlessnet.py the network namespace where a plain user's bridges live

It stands on the engine's base only; the containers room calls
``networks.connect`` before a container starts and ``teardown`` after.
"""
