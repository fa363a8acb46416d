"""What every REST handler needs: the caller, a scope check, a bounded JSON body."""

import json
from typing import Any

from starlette.requests import Request

from statusgraph.auth.principal import Principal
from statusgraph.errors import (
    AUTHENTICATION_REQUIRED,
    AuthenticationError,
    BadUserInputError,
    ForbiddenError,
    PayloadTooLargeError,
)


def require(request: Request, *scopes: str) -> Principal:
    """The caller, who must hold one of `scopes`."""
    principal: Principal | None = request.state.principal
    if principal is None:
        raise AuthenticationError(AUTHENTICATION_REQUIRED)
    if not any(principal.can(scope) for scope in scopes):
        raise ForbiddenError(f"Insufficient scope: {scopes[0]} required")
    return principal


async def json_body(request: Request, *, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; an empty body is {}."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(f"Request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadUserInputError("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadUserInputError("Request body must be a JSON object")
    return data
