"""vivenu's own erasure: `POST /api/customers/{id}/erase-data` (vivenu's openapi-more.json,
`erase_customer_data`), confirmed by reading the customer back."""

from __future__ import annotations

import json

from pipelines.erase.guard import PEOPLE
from pipelines.erase.people import Person
from pipelines.registry import BY_NAME
from pipelines.vivenu.client import VivenuClient
from pipelines.vivenu.errors import VivenuNotFound


class VivenuEraseError(RuntimeError):
    """vivenu did not confirm an erasure."""


async def erase_in_vivenu(client: VivenuClient, people: list[Person]) -> int:
    """Ask vivenu to erase each person, then read each back: the answer must hold none of the
    values the lake knew them by (or be vivenu's 404: nothing left to erase). Returns how many
    vivenu confirmed; VivenuEraseError naming the customer otherwise (values never printed)."""
    spec = BY_NAME[PEOPLE]
    for person in people:
        path = spec.item_path(person.id)
        try:
            await client.request("POST", f"{path}/erase-data")
            doc = await client.get(spec, person.id)
        except VivenuNotFound:
            continue
        text = json.dumps(doc).lower()
        left = sum(t.lower() in text for t in person.terms if t != person.id)
        if left:
            raise VivenuEraseError(
                f"vivenu still holds {left} value(s) of customer {person.id} after erase-data: "
                "ask vivenu's support to erase it, then run this again"
            )
    return len(people)
