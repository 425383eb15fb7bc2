"""A made-up hospital admissions table for the demo and the tests.

Every value is invented by a seeded random generator; it has the identifiers a real
extract would carry (names, NHS numbers, e-mail addresses, postcodes, dates of birth)
so the identifier scan and the synthetic sample have something to work on.
"""

import random

FIRST_NAMES = ["Ann", "Bob", "Cara", "Dev", "Ema", "Finn", "Gul", "Hana", "Ivo", "Jon"]
LAST_NAMES = ["Smith", "Jones", "Patel", "Khan", "Brown", "Wilson", "Taylor", "Evans"]
WARDS = ["cardiology", "oncology", "renal", "maternity", "surgery"]
# What the demo's data steward declares public for questions answered with differential
# privacy: bounds and categories known without looking at the data.
PRIVACY_COLUMNS = {
    "age": {"kind": "numeric", "lower": 0, "upper": 120, "bins": 12},
    "length_of_stay": {"kind": "numeric", "lower": 0, "upper": 60, "bins": 12},
    "ward": {"kind": "categorical", "categories": WARDS},
    "readmitted": {"kind": "categorical", "categories": ["true", "false"]},
}
HEADER = "patient_name,nhs_number,email,postcode,date_of_birth,age,ward,length_of_stay,readmitted"


def nhs_number(rng: random.Random) -> str:
    """A 10-digit number with a valid NHS mod-11 check digit."""
    while True:
        body = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, body)) + str(check)


def admissions_csv(rows: int = 300, seed: int = 7) -> str:
    rng = random.Random(seed)  # noqa: S311 (made-up data, not secrets)
    lines = [HEADER]
    for index in range(rows):
        age = rng.randrange(18, 95)
        ward = rng.choice(WARDS)
        stay = round(rng.gammavariate(2, 3) + age / 30 + (4 if ward == "oncology" else 0), 1)
        readmitted = rng.random() < 0.1 + stay / 100
        lines.append(
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)},{nhs_number(rng)},"
            f"person{index}@example.org,SW{rng.randrange(1, 20)} {rng.randrange(1, 9)}AB,"
            f"{2024 - age}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d},{age},"
            f"{ward},{stay},{'true' if readmitted else 'false'}"
        )
    return "\n".join(lines) + "\n"
