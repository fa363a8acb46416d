"""Problems the caller can fix by changing the input; mutations return them as userErrors."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserError:
    field: str | None
    code: str
    message: str


class UserInputError(Exception):
    """Raised before anything is written; carries every problem found, not just the first."""

    def __init__(self, errors: list[UserError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors

    @classmethod
    def single(cls, field: str | None, code: str, message: str) -> "UserInputError":
        return cls([UserError(field=field, code=code, message=message)])


class Problems:
    """Collects user errors while validating, then raises them together."""

    def __init__(self) -> None:
        self.errors: list[UserError] = []

    def add(self, field: str | None, code: str, message: str) -> None:
        self.errors.append(UserError(field=field, code=code, message=message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise UserInputError(self.errors)
