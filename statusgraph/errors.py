"""Expected errors: they reach clients with their code; everything else is masked.

GraphQL adds `extensions.code`; the REST shim answers `{"error": message}` with
`http_status`. Resolvers raise these; neither layer invents its own.
"""

AUTHENTICATION_REQUIRED = "Authentication required"


class StatusGraphError(Exception):
    code = "BAD_REQUEST"
    http_status = 400

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = extensions


class NotFoundError(StatusGraphError):
    code = "NOT_FOUND"
    http_status = 404

    @classmethod
    def of(cls, type_name: str) -> "NotFoundError":
        return cls(f"{type_name} not found")


class AuthenticationError(StatusGraphError):
    code = "UNAUTHENTICATED"
    http_status = 401


class ForbiddenError(StatusGraphError):
    code = "FORBIDDEN"
    http_status = 403


class BadUserInputError(StatusGraphError):
    code = "BAD_USER_INPUT"


class ExcessivePaginationError(StatusGraphError):
    code = "EXCESSIVE_PAGINATION"


class InternalError(StatusGraphError):
    """Stands in for an unexpected exception; its message never says what went wrong."""

    code = "INTERNAL_SERVER_ERROR"
    http_status = 500


class ConflictError(StatusGraphError):
    code = "CONFLICT"
    http_status = 409


class PayloadTooLargeError(StatusGraphError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
