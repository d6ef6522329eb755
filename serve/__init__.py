"""Floe serving on Ray Serve: registered versions as autoscaled HTTP endpoints.

    import serve
    url = serve.start()                      # the HTTP front on 127.0.0.1:8000
    serve.deploy("iris@LIVE", max_replicas=2)
    serve.status()
    serve.undeploy("iris@LIVE")

Every request goes through the version's load path (hashes checked before anything is
deserialised) and ``ModelVersion.run``'s validation, function resolution and run path.
"""

from serve.config import EndpointConfig, FrontConfig, ServeConfig
from serve.control import apply, deploy, shutdown, start, status, undeploy

__all__ = [
    "EndpointConfig",
    "FrontConfig",
    "ServeConfig",
    "apply",
    "deploy",
    "shutdown",
    "start",
    "status",
    "undeploy",
]
