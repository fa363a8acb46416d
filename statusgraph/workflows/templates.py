"""Workflow templates: `{monitor.name}`-style placeholders replaced by plain substitution.

One pass of `re.sub` over the template: a value is inserted as it is and never scanned
again, so a monitor named "{reason}" stays "{reason}", and nothing in a template or a
value is evaluated (no template engine sees user input). A placeholder we do not know
stays as written (creation refuses them: resolvers/workflows.py).
"""

from collections.abc import Mapping

from statusgraph.resolvers.workflows import PLACEHOLDER


def render(template: str, values: Mapping[str, str], *, limit: int) -> str:
    rendered = PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), template)
    return rendered[:limit]
