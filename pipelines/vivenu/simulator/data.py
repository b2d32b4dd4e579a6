"""Deterministic, realistic seed data for the vivenu simulator.

Everything is drawn with numpy over small embedded vocabularies, chunk by chunk, so a million
customers (and ~1.5 million transactions) take seconds, not the hours a per-row faker would.
The same `(customers, seed, start)` always yields the same records, ids included.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

CHUNK = 50_000
SIMULATED_PASSWORD = "sim-password"  # every seeded or created customer account logs in with this

FIRST_NAMES = [
    "Anna",
    "Lena",
    "Marie",
    "Sophie",
    "Julia",
    "Laura",
    "Lea",
    "Sarah",
    "Hannah",
    "Emma",
    "Mia",
    "Lina",
    "Clara",
    "Paula",
    "Nele",
    "Johanna",
    "Lukas",
    "Leon",
    "Jonas",
    "Finn",
    "Paul",
    "Felix",
    "Maximilian",
    "Elias",
    "Ben",
    "Noah",
    "Jan",
    "Tim",
    "Tobias",
    "Niklas",
    "David",
    "Oliver",
    "George",
    "Harry",
    "Jack",
    "Charlie",
    "Olivia",
    "Amelia",
    "Isla",
    "Emily",
    "James",
    "William",
    "Michael",
    "Jennifer",
    "Jessica",
    "Ashley",
    "Matthew",
    "Daniel",
    "Chloé",
    "Louise",
    "Camille",
    "Léa",
    "Hugo",
    "Louis",
    "Gabriel",
    "Lucas",
    "Sanne",
    "Daan",
    "Sem",
    "Lotte",
    "Fleur",
    "Lucía",
    "Martina",
    "Pablo",
    "Alejandro",
    "Sofía",
    "Giulia",
    "Francesca",
    "Lorenzo",
    "Matteo",
    "Luca",
    "Jörg",
    "Jürgen",
    "Björn",
    "Søren",
    "Zoë",
    "Ömer",
    "Ayşe",
    "Mehmet",
    "Fatma",
    "Ali",
    "Yusuf",
    "Ewa",
    "Piotr",
    "Katarzyna",
]
LAST_NAMES = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "Gruber",
    "Huber",
    "Steiner",
    "Moser",
    "Keller",
    "Brunner",
    "Frei",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Miller",
    "Garcia",
    "Martinez",
    "Rodriguez",
    "Anderson",
    "Martin",
    "Bernard",
    "Dubois",
    "Durand",
    "Lefèvre",
    "Moreau",
    "Laurent",
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "García",
    "López",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Yılmaz",  # noqa: RUF001
    "Kaya",
    "Demir",
    "Nowak",
    "Kowalski",
    "O'Brien",
)
EMAIL_DOMAINS = [
    "gmail.com",
    "web.de",
    "gmx.de",
    "gmx.net",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "t-online.de",
    "hotmail.com",
    "posteo.de",
    "bluewin.ch",
    "gmx.at",
    "orange.fr",
    "free.fr",
    "btinternet.com",
    "hotmail.co.uk",
    "ziggo.nl",
    "telefonica.net",
    "libero.it",
    "proton.me",
    "mailbox.org",
]
COMPANIES = [
    "Acme GmbH",
    "Nordlicht Events GmbH",
    "Bergblick AG",
    "Stadtwerke Süd",
    "Blue Harbour Ltd",
    "Kaffeerösterei Braun KG",
    "Alpen Logistik GmbH",
    "Müller & Söhne OHG",
    "Brightside Media Ltd",
    "Les Ateliers Moreau SARL",
    "Van Dijk Consultancy BV",
    "Grupo Solano SL",
    "Rossi Costruzioni Srl",
    "Helvetia Trust AG",
    "Rheinland Versicherung AG",
    "Northwind Traders Inc",
    "Globex Corporation",
    "Initech LLC",
    "Sportverein Grün-Weiß e.V.",
    "Musikschule Allegro",
    "Technische Universität Nord",
    "Café Central",
    "Wiener Kulturverein",
    "Zürcher Kantonalbank",
    "Bureau Lefèvre",
    "Hofmann IT-Services",
]
STREETS: dict[str, tuple[str, ...]] = {
    "DE": ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schulstraße", "Lindenallee", "Bergstraße"),
    "AT": ("Ringstraße", "Mariahilfer Straße", "Kirchengasse", "Hauptplatz", "Lindengasse"),
    "CH": ("Seestrasse", "Bahnhofstrasse", "Dorfstrasse", "Rue du Rhône", "Kirchgasse"),
    "GB": ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane"),
    "US": ("Main Street", "Oak Avenue", "Maple Drive", "Washington Street", "Park Avenue"),
    "FR": ("Rue de la Paix", "Rue Victor Hugo", "Avenue Jean Jaurès", "Rue de la République"),
    "NL": ("Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsplein", "Prinsengracht"),
    "ES": ("Calle Mayor", "Gran Vía", "Calle Real", "Avenida de la Constitución"),
    "IT": ("Via Roma", "Via Garibaldi", "Corso Italia", "Via Dante", "Piazza Mazzini"),
    "DK": ("Østergade", "Vestergade", "Nørregade", "Strandvejen"),
    "SE": ("Storgatan", "Drottninggatan", "Kungsgatan", "Sveavägen"),
}
# country, weight, currency, phone prefix, VAT, language, [(city, postal pattern, state)]
COUNTRIES: tuple[
    tuple[str, float, str, str, float, str, tuple[tuple[str, str, str | None], ...]], ...
] = (
    (
        "DE",
        0.46,
        "EUR",
        "+49",
        0.19,
        "de",
        (
            ("Berlin", "10###", None),
            ("Hamburg", "20###", None),
            ("München", "80###", None),
            ("Köln", "50###", None),
            ("Frankfurt am Main", "60###", None),
            ("Stuttgart", "70###", None),
            ("Leipzig", "04###", None),
            ("Düsseldorf", "40###", None),
        ),
    ),
    (
        "AT",
        0.09,
        "EUR",
        "+43",
        0.20,
        "de",
        (
            ("Wien", "1###", None),
            ("Graz", "80##", None),
            ("Linz", "40##", None),
            ("Salzburg", "50##", None),
            ("Innsbruck", "60##", None),
        ),
    ),
    (
        "CH",
        0.08,
        "CHF",
        "+41",
        0.081,
        "de-CH",
        (
            ("Zürich", "80##", None),
            ("Bern", "30##", None),
            ("Basel", "40##", None),
            ("Genève", "12##", None),
            ("Luzern", "60##", None),
        ),
    ),
    (
        "GB",
        0.09,
        "GBP",
        "+44",
        0.20,
        "en-GB",
        (
            ("London", "SW1A #AA", None),
            ("Manchester", "M# #AB", None),
            ("Edinburgh", "EH# #QT", None),
            ("Bristol", "BS# #DX", None),
        ),
    ),
    (
        "US",
        0.07,
        "USD",
        "+1",
        0.0,
        "en",
        (
            ("New York", "100##", "NY"),
            ("Chicago", "606##", "IL"),
            ("San Francisco", "941##", "CA"),
            ("Austin", "787##", "TX"),
            ("Boston", "021##", "MA"),
        ),
    ),
    (
        "FR",
        0.06,
        "EUR",
        "+33",
        0.20,
        "fr",
        (
            ("Paris", "750##", None),
            ("Lyon", "690##", None),
            ("Marseille", "130##", None),
            ("Bordeaux", "330##", None),
        ),
    ),
    (
        "NL",
        0.05,
        "EUR",
        "+31",
        0.21,
        "nl",
        (
            ("Amsterdam", "10## AB", None),
            ("Rotterdam", "30## CD", None),
            ("Utrecht", "35## EF", None),
        ),
    ),
    (
        "ES",
        0.04,
        "EUR",
        "+34",
        0.21,
        "es",
        (
            ("Madrid", "280##", None),
            ("Barcelona", "080##", None),
            ("Valencia", "460##", None),
            ("Sevilla", "410##", None),
        ),
    ),
    (
        "IT",
        0.04,
        "EUR",
        "+39",
        0.22,
        "it",
        (
            ("Roma", "001##", None),
            ("Milano", "201##", None),
            ("Napoli", "801##", None),
            ("Torino", "101##", None),
        ),
    ),
    ("DK", 0.01, "DKK", "+45", 0.25, "da", (("København", "1###", None), ("Aarhus", "8000", None))),
    (
        "SE",
        0.01,
        "SEK",
        "+46",
        0.25,
        "sv",
        (("Stockholm", "111 ##", None), ("Göteborg", "411 ##", None)),
    ),
)
# Zipf-like: a few tags everyone has, then a long tail (some with spaces/unicode, as typed).
TAGS = (
    "vip newsletter season-ticket member early-bird family student press sponsor donor "
    "abo-2024 abo-2025 wheelchair partner staff b2b group-booking presale "
    "Früh bucher|Stammgast|concert fan|theater-lover|jazz|klassik|kids club|senior|"
    "ermäßigt|gästeliste|Ehrenmitglied|newsletter-de|newsletter-en|Dauerkarte Nord|"
    "block-a|block-b|Fanclub Süd|black-friday|gift-card|waitlist|über 60|vip-lounge|"
    "hospitality|corporate|school|festival-2023|festival-2024|festival-2025|backstage|"
    "photo-pass|crew|artist-guest|überweisung|lastschrift|zahlungserinnerung|do-not-mail|"
    "bounced|gdpr-request|merch|crowdfunding|app-user|survey-2024|Q4 campaign|referral|"
    "ambassador|café-gutschein|ticket-swap|resale"
)
TAG_VOCAB: tuple[str, ...] = tuple(TAGS.split(" ", 18)[:18]) + tuple(
    TAGS.split(" ", 18)[18].split("|")
)
SEGMENTS = ("high-value", "churn-risk", "first-timer", "regulars", "lapsed")
# Event formats: name, tag, duration in hours (a festival spans days).
EVENT_FORMATS: tuple[tuple[str, str, int], ...] = (
    ("Sommerfestival", "festival", 54),
    ("Jazz Night", "jazz", 3),
    ("Symphonie Nr. 9", "klassik", 2),
    ("Stand-up Comedy", "comedy", 2),
    ("Rock am Fluss", "festival", 30),
    ("Kindertheater", "family", 1),
    ("Opernball", "gala", 6),
    ("Indie Showcase", "concert", 4),
    ("Derby Day", "sports", 3),
    ("Wintermarkt", "market", 8),
    ("Open Air Kino", "film", 3),
    ("Tech Conference", "conference", 9),
    ("Kammermusik", "klassik", 2),
    ("Poetry Slam", "literature", 2),
    ("Hip-Hop Jam", "concert", 4),
    ("Ballett Gala", "dance", 3),
)
# Ticket types: name and price factor against the event's base price.
TICKET_TYPES: tuple[tuple[str, float], ...] = (
    ("Stehplatz", 1.0),
    ("Sitzplatz Kat. 1", 1.6),
    ("Sitzplatz Kat. 2", 1.25),
    ("VIP", 3.2),
    ("Ermäßigt", 0.7),
    ("Early Bird", 0.8),
)
TICKET_CATEGORIES = tuple(name for name, _ in TICKET_TYPES)
# Venues: name, street, postal, city, country, capacity, timezone.
VENUES: tuple[tuple[str, str, str, str, str, int, str], ...] = (
    ("Kulturhalle Kreuzberg", "Columbiadamm 13", "10965", "Berlin", "DE", 3500, "Europe/Berlin"),
    ("Hafenbühne", "Große Elbstraße 84", "22767", "Hamburg", "DE", 1200, "Europe/Berlin"),
    (
        "Olympiahalle Nord",
        "Spiridon-Louis-Ring 21",
        "80809",
        "München",
        "DE",
        12000,
        "Europe/Berlin",
    ),
    ("Stadtgarten Köln", "Venloer Straße 40", "50672", "Köln", "DE", 450, "Europe/Berlin"),
    (
        "Alte Oper Frankfurt",
        "Opernplatz 1",
        "60313",
        "Frankfurt am Main",
        "DE",
        2400,
        "Europe/Berlin",
    ),
    (
        "Parkbühne Leipzig",
        "Anton-Bruckner-Allee 11",
        "04105",
        "Leipzig",
        "DE",
        8000,
        "Europe/Berlin",
    ),
    (
        "Jazzkeller 17",
        "Kleine Bockenheimer Straße 17",
        "60313",
        "Frankfurt am Main",
        "DE",
        180,
        "Europe/Berlin",
    ),
    ("Messe Stuttgart Halle 1", "Messepiazza 1", "70629", "Stuttgart", "DE", 9000, "Europe/Berlin"),
    ("Konzerthaus am Ring", "Lothringerstraße 20", "1030", "Wien", "AT", 1800, "Europe/Vienna"),
    ("Seebühne Zürich", "Utoquai 55", "8008", "Zürich", "CH", 2500, "Europe/Zurich"),
    ("Riverside Hall", "Upper Ground 12", "SE1 9PX", "London", "GB", 2900, "Europe/London"),
    ("Paradiso Noord", "Weteringschans 6", "1017 SG", "Amsterdam", "NL", 1500, "Europe/Amsterdam"),
    ("Salle Lumière", "Rue de Rivoli 99", "75001", "Paris", "FR", 2000, "Europe/Paris"),
    ("Vega Scene", "Enghavevej 40", "1674", "København", "DK", 1550, "Europe/Copenhagen"),
    (
        "Södra Teatern Stora",
        "Mosebacke torg 1",
        "116 46",
        "Stockholm",
        "SE",
        900,
        "Europe/Stockholm",
    ),
    ("Stadion am Fluss", "Flutlichtweg 1", "40474", "Düsseldorf", "DE", 45000, "Europe/Berlin"),
)
# Fixed EUR rates and the price points each currency is sold at: (rate, step, offset); a price
# is rounded up to a multiple of `step` and `offset` added (EUR 34.90, CHF 36.00, DKK 295).
CURRENCY_PRICING: dict[str, tuple[float, float, float]] = {
    "EUR": (1.0, 1.0, -0.10),
    "CHF": (0.94, 1.0, 0.0),
    "GBP": (0.85, 0.5, 0.0),
    "USD": (1.08, 1.0, -0.01),
    "DKK": (7.46, 5.0, 0.0),
    "SEK": (11.2, 10.0, -1.0),
}
NOTES = (
    "Prefers aisle seats",
    "Rollstuhlplatz benötigt",
    "Called about invoice",
    "Bitte keine Anrufe",
    "Group leader for school bookings",
    "Allergic to nuts (catering)",
    "Asked for paper tickets",
)

_UMLAUTS = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "é": "e",
        "è": "e",
        "ç": "c",
        "ø": "o",
        "í": "i",
        "ó": "o",
        "á": "a",
        "ı": "i",  # noqa: RUF001
        "ş": "s",
        "ë": "e",
        "'": "",
        " ": "",
        "ñ": "n",
    }
)


def ascii_slug(text: str) -> str:
    """Lowercase ASCII form of a name, as people type it into an email address."""
    return text.lower().translate(_UMLAUTS)


def seller_id(seed: int) -> str:
    """The one seller id of a seeded store."""
    return hashlib.sha256(f"seller:{seed}".encode()).hexdigest()[:24]


def iso_ms(ms: np.ndarray) -> list[str]:
    """ISO-8601 UTC strings with milliseconds and Z for an int64 array of epoch milliseconds."""
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")
    return [t + "Z" for t in text.tolist()]


def object_ids(rng: np.random.Generator, seconds: np.ndarray, counter_start: int) -> list[str]:
    """24-hex ObjectId-like ids: 4-byte timestamp, 5 random bytes, 3-byte counter."""
    n = len(seconds)
    raw = np.empty((n, 12), dtype=np.uint8)
    raw[:, 0:4] = seconds.astype(">u4").view(np.uint8).reshape(n, 4)
    raw[:, 4:9] = rng.integers(0, 256, size=(n, 5), dtype=np.uint8)
    counters = (np.arange(counter_start, counter_start + n, dtype=np.uint64) & 0xFFFFFF).astype(
        ">u4"
    )
    raw[:, 9:12] = counters.view(np.uint8).reshape(n, 4)[:, 1:4]
    hexed = raw.tobytes().hex()
    return [hexed[i : i + 24] for i in range(0, 24 * n, 24)]


def hex_secrets(rng: np.random.Generator, n: int, nbytes: int = 16) -> list[str]:
    """Random lowercase hex secrets."""
    hexed = rng.integers(0, 256, size=n * nbytes, dtype=np.uint8).tobytes().hex()
    w = 2 * nbytes
    return [hexed[i : i + w] for i in range(0, w * n, w)]


def _fill(pattern: str, digits: list[int]) -> str:
    if "#" not in pattern:
        return pattern
    it = iter(digits)
    return "".join(str(next(it)) if ch == "#" else ch for ch in pattern)


def _zipf_weights(n: int, s: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


DAY_MS = 86_400_000
HISTORY_MS = 6 * 365 * DAY_MS  # the seeded seller's history ends `today` and spans six years
UPCOMING_MS = 180 * DAY_MS  # events are on sale up to half a year ahead


def today_ms(today: date | None = None) -> int:
    """Epoch ms of midnight UTC starting `today` (default: the current UTC date): seeded data ends there."""
    day = today or datetime.now(UTC).date()
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def price_point(eur: float, currency: str) -> float:
    """An EUR base price in `currency` at fixed rates, rounded to that currency's price points."""
    rate, step, offset = CURRENCY_PRICING.get(currency, CURRENCY_PRICING["EUR"])
    return round(math.ceil(eur * rate / step - 1e-9) * step + offset, 2)


def event_count(customers: int) -> int:
    """How many events a seller with this many customers has run (about one per 50 customers)."""
    return max(40, min(customers // 50, 25_000))


class Events:
    """The seeded seller's events: past ones and some on sale, each at a venue with ticket types.

    Arrays are sorted by `start`. A sale at time t goes to an event starting within `horizon`
    after t, and every event went on sale at least `horizon` before it starts, so no ticket is
    ever sold for an event not yet on sale or already over.
    """

    def __init__(self, seed: int, count: int = 40, today: date | None = None) -> None:
        rng = np.random.default_rng([seed, 9001])
        now = today_ms(today)
        first = now - HISTORY_MS
        n_up = max(4, count // 15)
        days = np.concatenate(
            [
                rng.integers(first // DAY_MS + 30, now // DAY_MS, size=count - n_up),
                rng.integers(now // DAY_MS + 1, (now + UPCOMING_MS) // DAY_MS, size=n_up),
            ]
        )
        days.sort()
        minutes = rng.choice([17 * 60, 18 * 60, 19 * 60, 19 * 60 + 30, 20 * 60], size=count)
        self.start = days * DAY_MS + minutes * 60_000
        self.kind = rng.integers(0, len(EVENT_FORMATS), size=count)
        hours = np.array([EVENT_FORMATS[k][2] for k in self.kind.tolist()], np.int64)
        self.end = self.start + hours * 3_600_000
        gaps = np.diff(np.concatenate([[first], self.start]))
        self.horizon = int(max(120 * DAY_MS, gaps.max() + DAY_MS))
        lead = self.horizon + rng.integers(0, 90 * DAY_MS, size=count)
        self.created = np.minimum(
            self.start - lead, now - rng.integers(DAY_MS, 30 * DAY_MS, size=count)
        )
        gap = (rng.exponential(0.1, size=count) * (now - self.created)).astype(np.int64)
        gap[rng.random(count) < 0.4] = 0
        self.updated = np.minimum(self.created + gap, now - 1000)
        self.ids = object_ids(rng, self.created // 1000, 0)
        self.venue = rng.integers(0, len(VENUES), size=count)
        self.popularity = rng.permutation(_zipf_weights(count, 0.8))
        self._cum = np.concatenate([[0.0], np.cumsum(self.popularity)])
        base = np.exp(rng.normal(3.3, 0.5, size=count)).clip(9, 120)
        ntypes = rng.integers(1, 5, size=count).tolist()
        type_order = [rng.permutation(len(TICKET_TYPES))[:k].tolist() for k in ntypes]
        type_ids = object_ids(rng, np.repeat(self.created // 1000, 4), 0x400000)
        cat_ids = object_ids(rng, np.repeat(self.created // 1000, 4), 0x500000)
        refs = hex_secrets(rng, 4 * count)
        # Per event: [(type id, name, EUR price, category ref, category id)], cheapest first.
        self.types: list[list[tuple[str, str, float, str, str]]] = []
        for e, order in enumerate(type_order):
            kinds = sorted(order, key=lambda k: TICKET_TYPES[k][1])
            self.types.append(
                [
                    (
                        type_ids[4 * e + j],
                        TICKET_TYPES[k][0],
                        price_point(float(base[e]) * TICKET_TYPES[k][1], "EUR"),
                        _uuid(refs[4 * e + j]),
                        cat_ids[4 * e + j],
                    )
                    for j, k in enumerate(kinds)
                ]
            )
        self.names = [
            f"{EVENT_FORMATS[k][0]} {datetime.fromtimestamp(s // 1000, UTC).year}"
            for k, s in zip(self.kind.tolist(), self.start.tolist(), strict=True)
        ]
        self.index = {eid: i for i, eid in enumerate(self.ids)}
        self._prices: dict[str, list[list[float]]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def pick(self, t_ms: np.ndarray, u: np.ndarray) -> np.ndarray:
        """For sales at times t (before the last event), popularity-weighted events then on sale."""
        lo = np.searchsorted(self.start, t_ms, side="right")
        hi = np.maximum(np.searchsorted(self.start, t_ms + self.horizon, side="right"), lo + 1)
        target = self._cum[lo] + u * (self._cum[hi] - self._cum[lo])
        idx = np.searchsorted(self._cum, target, side="right") - 1
        return np.clip(idx, lo, hi - 1)

    def prices(self, currency: str) -> list[list[float]]:
        """Per event, its ticket types' prices in `currency`."""
        got = self._prices.get(currency)
        if got is None:
            got = self._prices[currency] = [
                [price_point(t[2], currency) for t in types] for types in self.types
            ]
        return got

    def doc(self, i: int, seller: str, sold: int) -> dict:
        """Event i as vivenu's EventResource; capacity covers what was sold (contingents grow)."""
        name, street, postal, city, country, capacity, tz = VENUES[int(self.venue[i])]
        types = self.types[i]
        cap = max(capacity, math.ceil(sold * 1.1 / 50) * 50)
        share = [cap // len(types)] * len(types)
        share[0] += cap - sum(share)
        created, start, end = (
            int(self.created[i]), int(self.start[i]), int(self.end[i])
        )  # fmt: skip
        fmt = EVENT_FORMATS[int(self.kind[i])]
        return {
            "_id": self.ids[i],
            "sellerId": seller,
            "name": self.names[i],
            "locationName": name,
            "locationStreet": street,
            "locationCity": city,
            "locationPostal": postal,
            "locationCountry": country,
            "timezone": tz,
            "start": ms_iso(start),
            "end": ms_iso(end),
            "sellStart": ms_iso(created),
            "sellEnd": ms_iso(end),
            "maxAmount": cap,
            "maxAmountPerOrder": 10,
            "categories": [
                {"_id": cid, "name": tname, "ref": ref, "amount": n}
                for (_, tname, _, ref, cid), n in zip(types, share, strict=True)
            ],
            "tickets": [
                {
                    "_id": tid,
                    "name": tname,
                    "price": eur,
                    "amount": n,
                    "active": True,
                    "categoryRef": ref,
                }
                for (tid, tname, eur, ref, _), n in zip(types, share, strict=True)
            ],
            "groups": [],
            "eventType": "SINGLE",
            "tags": [fmt[1]],
            "createdAt": ms_iso(created),
            "updatedAt": ms_iso(int(self.updated[i])),
        }


def _uuid(hex32: str) -> str:
    h = hex32
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def ms_iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and Z for epoch ms."""
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def iter_records(
    customers: int,
    seed: int,
    *,
    today: date | None = None,
    number_start: int = 0,
    events: Events | None = None,
) -> Iterator[tuple[list[dict], list[dict], list[dict]]]:
    """Yield (customers, transactions, tickets) chunks; each customer carries its transactions' ids.

    The history ends at midnight UTC starting `today` (default: the current date), so seeded
    records meet the writes of a running simulator without a gap.
    """
    now_ms = today_ms(today)
    first_ms = now_ms - HISTORY_MS
    rng = np.random.default_rng(seed)
    seller = seller_id(seed)
    if events is None:
        events = Events(seed, event_count(customers), today)
    tag_p = _zipf_weights(len(TAG_VOCAB))
    country_p = np.array([c[1] for c in COUNTRIES])
    country_p /= country_p.sum()
    txn_counter = 0
    ticket_counter = 0
    first_slug = [ascii_slug(x) for x in FIRST_NAMES]
    last_slug = [ascii_slug(x) for x in LAST_NAMES]
    # 200 postal codes per city pattern are plenty of variety and keep the row loop cheap.
    digits = rng.integers(0, 10, size=(200, 6)).tolist()
    postals = {pat: [_fill(pat, d) for d in digits] for c in COUNTRIES for _, pat, _ in c[6]}
    for base in range(0, customers, CHUNK):
        n = min(CHUNK, customers - base)
        # Customers are created in roughly increasing time (number and ObjectId grow together).
        created = np.sort(rng.integers(first_ms, now_ms - 86_400_000, size=n))
        upd_gap = (rng.exponential(0.15, size=n) * (now_ms - created)).astype(np.int64)
        upd_gap[rng.random(n) < 0.35] = 0
        updated = np.minimum(created + upd_gap, now_ms - 1000)
        ids = object_ids(rng, created // 1000, base)
        ci = rng.choice(len(COUNTRIES), size=n, p=country_p).tolist()
        city_pick = rng.integers(0, 1000, size=n).tolist()
        fi = rng.integers(0, len(FIRST_NAMES), size=n).tolist()
        li = rng.integers(0, len(LAST_NAMES), size=n).tolist()
        email_form = rng.integers(0, 3, size=n).tolist()
        dom = rng.integers(0, len(EMAIL_DOMAINS), size=n).tolist()
        has_company = (rng.random(n) < 0.22).tolist()
        comp = rng.integers(0, len(COMPANIES), size=n).tolist()
        phone_digits = rng.integers(10_000_000, 999_999_999, size=n).tolist()
        has_phone = (rng.random(n) < 0.8).tolist()
        street = rng.integers(0, 1000, size=n).tolist()
        house = rng.integers(1, 180, size=n).tolist()
        ntags = np.minimum(rng.poisson(1.2, size=n), 6)
        tag_flat = rng.choice(len(TAG_VOCAB), size=int(ntags.sum()), p=tag_p).tolist()
        ntags_l = ntags.tolist()
        blocked = (rng.random(n) < 0.02).tolist()
        verified = (rng.random(n) < 0.70).tolist()
        has_account = (rng.random(n) < 0.45).tolist()
        tokens = hex_secrets(rng, 2 * n)
        login_type = (rng.random(n) < 0.85).tolist()
        r_misc = rng.random((n, 6)).tolist()
        seg = rng.integers(0, len(SEGMENTS), size=n).tolist()
        note = rng.integers(0, len(NOTES), size=n).tolist()
        postal_pick = rng.integers(0, 200, size=n).tolist()
        created_s = iso_ms(created)
        limit_s = iso_ms(updated + 3_600_000)
        # Transactions: a heavy-tailed count per customer (most 0, a few dozens), mean about 1.5,
        # in proportion to how long the customer has been around: buying at a steady rate, so
        # sales per month grow with the customer base instead of piling up just before today.
        mean_t = 3.0 * (now_ms - created) / HISTORY_MS
        nt = np.minimum(rng.negative_binomial(0.3, 0.3 / (0.3 + mean_t)), 60)
        total_t = int(nt.sum())
        owner = np.repeat(np.arange(n), nt)
        t_created = created[owner] + (
            rng.random(total_t) * (now_ms - 60_000 - created[owner])
        ).astype(np.int64)
        t_gap = (rng.exponential(0.05, size=total_t) * (now_ms - t_created)).astype(np.int64)
        t_gap[rng.random(total_t) < 0.7] = 0
        t_updated = np.minimum(t_created + t_gap, now_ms - 1000)
        # A new transaction bumps its customer's updatedAt, so the customer is at least as new.
        if total_t:
            np.maximum.at(updated, owner, t_updated)
        updated_s = iso_ms(updated)
        t_ids = object_ids(rng, t_created // 1000, txn_counter)
        txn_counter += total_t
        t_created_s = iso_ms(t_created)
        t_updated_s = iso_ms(t_updated)
        t_secret = hex_secrets(rng, total_t)
        t_u = rng.random(total_t)  # picks the event (the draw the old fixed pool used)
        t_status = rng.choice(4, size=total_t, p=[0.86, 0.06, 0.05, 0.03]).tolist()
        t_pay_r = rng.random(total_t).tolist()
        t_amount_a = rng.choice([1, 2, 3, 4, 6], size=total_t, p=[0.45, 0.35, 0.1, 0.07, 0.03])
        t_amount = t_amount_a.tolist()
        # Draws of retired columns stay, so the customers of later chunks stay what they were.
        rng.normal(3.4, 0.6, size=total_t)
        rng.choice([0.9, 0.0, 0.5, 0.99], size=total_t)
        t_cat = rng.integers(0, len(TICKET_TYPES), size=total_t).tolist()
        t_method = rng.choice(5, size=total_t, p=[0.25, 0.35, 0.05, 0.05, 0.30]).tolist()
        t_pos = (rng.random(total_t) < 0.1).tolist()
        hex_secrets(rng, total_t, 12)
        nt_l = nt.tolist()
        t_event = events.pick(t_created, t_u).tolist()
        # Tickets come from their own stream: one per unit of each transaction's line item.
        trng = np.random.default_rng([seed, 4242, base])
        k_all = int(t_amount_a.sum())
        k_owner = np.repeat(np.arange(total_t), t_amount_a)
        k_ids = object_ids(trng, t_created[k_owner] // 1000, ticket_counter)
        k_secret = hex_secrets(trng, k_all)
        k_barcode = barcodes(trng, k_all, ticket_counter)
        ticket_counter += k_all
        k_companion = (trng.random(k_all) < 0.12).tolist()
        k_first = trng.integers(0, len(FIRST_NAMES), size=k_all).tolist()
        k_hard = (trng.random(k_all) < 0.03).tolist()
        t_price_of = {cur: events.prices(cur) for cur in {c[2] for c in COUNTRIES}}

        docs: list[dict] = []
        txns: list[dict] = []
        tickets: list[dict] = []
        t = 0
        ti = 0
        ki = 0
        for i in range(n):
            country, _, currency, prefix, vat, lang, cities = COUNTRIES[ci[i]]
            city, postal_pat, state = cities[city_pick[i] % len(cities)]
            streets = STREETS[country]
            prename, lastname = FIRST_NAMES[fi[i]], LAST_NAMES[li[i]]
            num = number_start + base + i + 1
            p, ln = first_slug[fi[i]], last_slug[li[i]]
            form = email_form[i]
            local = (
                f"{p}.{ln}{num}"
                if form == 0
                else f"{p[0]}{ln}.{num}"
                if form == 1
                else f"{ln}.{p}{num}"
            )
            company = COMPANIES[comp[i]] if has_company[i] else None
            misc = r_misc[i]
            k = ntags_l[i]
            tags = [TAG_VOCAB[x] for x in tag_flat[t : t + k]]
            if k > 1:
                tags = list(dict.fromkeys(tags))
            t += k
            doc: dict = {
                "_id": ids[i],
                "sellerId": seller,
                "number": num,
                "name": f"{prename} {lastname}",
                "prename": prename,
                "lastname": lastname,
                "primaryEmail": f"{local}@{EMAIL_DOMAINS[dom[i]]}",
                "company": company,
                "location": {
                    "street": f"{streets[street[i] % len(streets)]} {house[i]}",
                    "line2": None if misc[0] > 0.1 else f"c/o {COMPANIES[comp[i]]}",
                    "postal": postals[postal_pat][postal_pick[i]],
                    "city": city,
                    "state": state,
                    "country": country,
                },
                "notes": NOTES[note[i]] if misc[1] < 0.05 else None,
                "extraFields": {"newsletterOptIn": misc[2] < 0.5, "preferredLanguage": lang}
                if misc[2] < 0.8
                else {},
                "tags": tags,
                "segments": [SEGMENTS[seg[i]]] if misc[3] < 0.15 else [],
                "blocked": blocked[i],
                "verified": verified[i],
                "meta": {"source": "box-office"} if misc[4] < 0.1 else {},
                "createdAt": created_s[i],
                "updatedAt": updated_s[i],
            }
            if has_phone[i]:
                doc["phone"] = f"{prefix} {phone_digits[i]}"
            if misc[5] < 0.2:
                doc["externalId"] = f"CRM-{num:07d}"
            if country == "ES" and misc[5] > 0.5:
                doc["identification"] = [{"type": "spain_tax_id", "identifier": f"{num:08d}Z"}]
            elif misc[5] > 0.97:
                doc["identification"] = [{"type": "origin_country_id"}]
            if has_account[i]:
                doc["_account"] = {
                    "verificationToken": tokens[2 * i],
                    "passwordResetToken": tokens[2 * i + 1],
                    "limitations": {"nextVerificationMailRequest": limit_s[i]},
                    "loginType": "password" if login_type[i] else "identityprovider",
                }
            my_txns = []
            for _ in range(nt_l[i]):
                e = t_event[ti]
                types = events.types[e]
                j = t_cat[ti] % len(types)
                ttype = types[j]
                txn = make_transaction(
                    t_ids[ti],
                    seller,
                    doc,
                    events.ids[e],
                    t_status[ti],
                    t_pay_r[ti],
                    t_amount[ti],
                    t_price_of[currency][e][j],
                    ttype[1],
                    t_method[ti],
                    t_pos[ti],
                    ttype[0],
                    t_secret[ti],
                    currency,
                    vat,
                    lang,
                    t_created_s[ti],
                    t_updated_s[ti],
                )
                k = t_amount[ti]
                tickets.extend(
                    make_tickets(
                        txn,
                        ttype,
                        k_ids[ki : ki + k],
                        k_secret[ki : ki + k],
                        k_barcode[ki : ki + k],
                        [
                            FIRST_NAMES[k_first[x]] if k_companion[x] and x > ki else None
                            for x in range(ki, ki + k)
                        ],
                        k_hard[ki : ki + k],
                    )
                )
                ki += k
                my_txns.append(txn["_id"])
                txns.append(txn)
                ti += 1
            doc["transactions"] = my_txns
            docs.append(doc)
        yield docs, txns, tickets


_STATUS = ("COMPLETE", "CANCELED", "ABORTED", "NEW")
_METHODS = ("paypal", "stripe", "local", "external", "vivenu-payments")


def _payment_status(status: int, r: float) -> str:
    if status == 0:
        return "RECEIVED" if r < 0.93 else "REFUND" if r < 0.98 else "CHARGEBACK"
    if status == 1:
        return "REFUND" if r < 0.6 else "CANCELED"
    if status == 2:
        return "FAILED" if r < 0.5 else "CANCELED"
    return "AWAITING" if r < 0.6 else "PENDING"


def make_transaction(
    tid: str,
    seller: str,
    c: dict,
    event_id: str,
    status: int,
    pay_r: float,
    amount: int,
    price: float,
    category: str,
    method: int,
    pos: bool,
    ticket_type: str,
    secret: str,
    currency: str,
    vat: float,
    lang: str,
    created: str,
    updated: str,
) -> dict:
    """One transaction of customer `c` (contact fields copied from the customer)."""
    real = round(amount * price, 2)
    loc = c.get("location") or {}
    txn = {
        "_id": tid,
        "sellerId": seller,
        "customerId": c["_id"],
        "eventId": event_id,
        "email": c.get("primaryEmail"),
        "name": c.get("name"),
        "prename": c.get("prename"),
        "lastname": c.get("lastname"),
        "street": loc.get("street"),
        "postal": loc.get("postal"),
        "city": loc.get("city"),
        "country": loc.get("country"),
        "currency": currency,
        "regularPrice": real if pay_r < 0.9 else round(real * 1.2, 2),
        "realPrice": real,
        "outerCharge": round(real * 0.05, 2) if not pos else 0.0,
        "taxRate": vat,
        "tickets": [
            {
                "type": "ticket",
                "_id": secret[:8] + tid[8:],
                "name": category,
                "amount": amount,
                "price": price,
                "netPrice": round(price / (1 + vat), 2),
                "ticketTypeId": ticket_type,
            }
        ],
        "status": _STATUS[status],
        "paymentStatus": "POS-RECEIVED" if pos and status == 0 else _payment_status(status, pay_r),
        "paymentMethod": "local" if pos else _METHODS[method],
        "origin": "pos" if pos else "yourticket",
        "preferredLanguage": lang,
        "secret": secret,
        "createdAt": created,
        "updatedAt": updated,
    }
    # The transaction schema has no nullable contact fields: absent beats null.
    return {k: v for k, v in txn.items() if v is not None}


# A ticket's status follows its transaction's (COMPLETE, CANCELED, ABORTED, NEW).
TICKET_STATUS = {
    "COMPLETE": "VALID",
    "CANCELED": "INVALID",
    "ABORTED": "INVALID",
    "NEW": "RESERVED",
}
_TICKET_CONTACT = (
    ("email", "email"), ("name", "name"), ("firstname", "prename"), ("lastname", "lastname"),
    ("street", "street"), ("postal", "postal"), ("city", "city"), ("country", "country"),
)  # fmt: skip


def make_tickets(
    txn: dict,
    ticket_type: tuple[str, str, float, str, str],
    ids: list[str],
    secrets: list[str],
    codes: list[str],
    companions: list[str | None],
    hard: list[bool],
) -> list[dict]:
    """The tickets of a transaction's line item, one per unit, holder details from the buyer.

    A companion ticket is personalized to someone else (first name given, the buyer's last name),
    so it has no email and no customerId. Tickets of a canceled or aborted transaction became
    INVALID when the transaction last changed; the others have not changed since the sale.
    """
    line = txn["tickets"][0]
    status = TICKET_STATUS[txn["status"]]
    unit_regular = round(txn["regularPrice"] / line["amount"], 2)
    base: dict[str, Any] = {
        "sellerId": txn["sellerId"],
        "transactionId": txn["_id"],
        "eventId": txn["eventId"],
        "customerId": txn.get("customerId"),
        "cartItemId": line["_id"],
        "ticketTypeId": ticket_type[0],
        "ticketName": ticket_type[1],
        "categoryRef": ticket_type[3],
        "categoryName": ticket_type[1],
        "currency": txn["currency"],
        "regularPrice": unit_regular,
        "realPrice": line["price"],
        "status": status,
        "completed": status == "VALID",
        "type": "SINGLE",
        "origin": txn.get("origin", "yourticket"),
        "extraFields": {},
        "createdAt": txn["createdAt"],
        "updatedAt": txn["updatedAt"] if status == "INVALID" else txn["createdAt"],
        "__v": 0,
    }
    for key, src in _TICKET_CONTACT:
        if src in txn:
            base[key] = txn[src]
    out = []
    for tid, secret, code, companion, is_hard in zip(
        ids, secrets, codes, companions, hard, strict=True
    ):
        ticket = {"_id": tid, **base, "secret": secret, "barcode": code}
        ticket["deliveryType"] = "HARD" if is_hard else "VIRTUAL"
        ticket["personalized"] = companion is not None
        if companion is not None:
            ticket["firstname"] = companion
            ticket["name"] = f"{companion} {txn.get('lastname', '')}".strip()
            ticket.pop("email", None)
            ticket.pop("customerId", None)
        elif ticket["customerId"] is None:
            del ticket["customerId"]
        out.append(ticket)
    return out


_BARCODE_ALPHABET = np.frombuffer(b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ", np.uint8)


def barcodes(rng: np.random.Generator, n: int, counter_start: int) -> list[str]:
    """Unique 16-character barcodes: 10 random symbols, then 6 encoding a running counter."""
    rand = rng.integers(0, 32, size=(n, 10), dtype=np.uint8)
    # An odd multiplier permutes the 30-bit counters: unique, yet not visibly sequential.
    counter = (np.arange(counter_start, counter_start + n, dtype=np.int64) * 0x2545F491) & (
        2**30 - 1
    )
    digits = (counter[:, None] >> (5 * np.arange(5, -1, -1, dtype=np.int64))) & 31
    raw = _BARCODE_ALPHABET[np.concatenate([rand, digits.astype(np.uint8)], axis=1)]
    text = raw.tobytes().decode()
    return [text[i : i + 16] for i in range(0, 16 * n, 16)]


def generate(
    customers: int, seed: int, *, today: date | None = None
) -> tuple[list[dict], list[dict], list[dict]]:
    """All seeded customers, transactions and tickets as lists (convenient for small sizes)."""
    all_c: list[dict] = []
    all_t: list[dict] = []
    all_k: list[dict] = []
    for docs, txns, tickets in iter_records(customers, seed, today=today):
        all_c.extend(docs)
        all_t.extend(txns)
        all_k.extend(tickets)
    return all_c, all_t, all_k
