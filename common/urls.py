"""URLs for long lists: one `reverse` for a whole page of rows."""

from django.urls import reverse

# Values that each id converter of the portal's URLs accepts.
PLACEHOLDERS = {"uuid": "00000000-0000-0000-0000-000000000000", "int": "9876543210"}


def url_with_id(name: str, *args, kind: str = "uuid") -> str:
    """The URL of `name` for `args` followed by an object's id (`kind`: the id's converter),
    with `{id}` where the id goes (fill it with `.format(id=...)`): a hundred `reverse` calls
    cost more than the rest of a row."""
    placeholder = PLACEHOLDERS[kind]
    head, _, tail = reverse(name, args=[*args, placeholder]).rpartition(placeholder)
    return head.replace("{", "{{").replace("}", "}}") + "{id}" + tail.replace("{", "{{").replace("}", "}}")
