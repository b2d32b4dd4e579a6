"""Deterministic, realistic seed data for the vivenu simulator.

Everything is drawn with numpy over small embedded vocabularies, chunk by chunk, so a million
customers (and ~1.5 million transactions) take seconds, not the hours a per-row faker would.
The same `(customers, seed, start)` always yields the same records, ids included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np

CHUNK = 50_000
# The seeded history ends here unless `start` says otherwise (a fixed day: same seed, same data).
SEEDED_UNTIL = datetime(2025, 6, 1, tzinfo=UTC)
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
EVENT_NAMES = (
    "Sommerfestival",
    "Jazz Night",
    "Symphonie Nr. 9",
    "Stand-up Comedy",
    "Rock am Fluss",
    "Kindertheater",
    "Opernball",
    "Indie Showcase",
    "Derby Day",
    "Wintermarkt",
    "Open Air Kino",
    "Tech Conference",
    "Kammermusik",
    "Poetry Slam",
    "Hip-Hop Jam",
    "Ballett Gala",
)
TICKET_CATEGORIES = (
    "Stehplatz",
    "Sitzplatz Kat. 1",
    "Sitzplatz Kat. 2",
    "VIP",
    "Ermäßigt",
    "Early Bird",
)
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


class Events:
    """The seeded seller's event pool (ids and names)."""

    def __init__(self, seed: int, count: int = 40) -> None:
        rng = np.random.default_rng([seed, 9001])
        secs = (1_600_000_000 + rng.integers(0, 150_000_000, size=count)).astype(np.int64)
        self.ids = object_ids(rng, secs, 0)
        self.names = [f"{EVENT_NAMES[i % len(EVENT_NAMES)]} {2020 + i % 6}" for i in range(count)]
        self.weights = _zipf_weights(count, 0.8)


def iter_records(
    customers: int, seed: int, *, start: datetime | None = None, number_start: int = 0
) -> Iterator[tuple[list[dict], list[dict]]]:
    """Yield (customers, transactions) chunks; each customer carries its transactions' ids."""
    now = start or SEEDED_UNTIL
    now_ms = int(now.timestamp() * 1000)
    first_ms = now_ms - 6 * 365 * 86_400_000
    rng = np.random.default_rng(seed)
    seller = seller_id(seed)
    events = Events(seed)
    tag_p = _zipf_weights(len(TAG_VOCAB))
    country_p = np.array([c[1] for c in COUNTRIES])
    country_p /= country_p.sum()
    txn_counter = 0
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
        # Transactions: a heavy-tailed count per customer (most 0, a few dozens), mean about 1.5.
        nt = np.minimum(rng.negative_binomial(0.3, 0.3 / 1.8, size=n), 60)
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
        t_event = rng.choice(len(events.ids), size=total_t, p=events.weights).tolist()
        t_status = rng.choice(4, size=total_t, p=[0.86, 0.06, 0.05, 0.03]).tolist()
        t_pay_r = rng.random(total_t).tolist()
        t_amount = rng.choice(
            [1, 2, 3, 4, 6], size=total_t, p=[0.45, 0.35, 0.1, 0.07, 0.03]
        ).tolist()
        t_price = (
            (
                np.floor(np.exp(rng.normal(3.4, 0.6, size=total_t)).clip(9, 149))
                + rng.choice([0.9, 0.0, 0.5, 0.99], size=total_t)
            )
            .round(2)
            .tolist()
        )
        t_cat = rng.integers(0, len(TICKET_CATEGORIES), size=total_t).tolist()
        t_method = rng.choice(5, size=total_t, p=[0.25, 0.35, 0.05, 0.05, 0.30]).tolist()
        t_pos = (rng.random(total_t) < 0.1).tolist()
        t_tt = hex_secrets(rng, total_t, 12)
        nt_l = nt.tolist()

        docs: list[dict] = []
        txns: list[dict] = []
        t = 0
        ti = 0
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
                txn = make_transaction(
                    t_ids[ti],
                    seller,
                    doc,
                    events.ids[t_event[ti]],
                    t_status[ti],
                    t_pay_r[ti],
                    t_amount[ti],
                    t_price[ti],
                    TICKET_CATEGORIES[t_cat[ti]],
                    t_method[ti],
                    t_pos[ti],
                    t_tt[ti],
                    t_secret[ti],
                    currency,
                    vat,
                    lang,
                    t_created_s[ti],
                    t_updated_s[ti],
                )
                my_txns.append(txn["_id"])
                txns.append(txn)
                ti += 1
            doc["transactions"] = my_txns
            docs.append(doc)
        yield docs, txns


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


def generate(
    customers: int, seed: int, *, start: datetime | None = None
) -> tuple[list[dict], list[dict]]:
    """All seeded customers and transactions as lists (convenient for small sizes)."""
    all_c: list[dict] = []
    all_t: list[dict] = []
    for docs, txns in iter_records(customers, seed, start=start):
        all_c.extend(docs)
        all_t.extend(txns)
    return all_c, all_t
