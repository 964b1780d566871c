"""The demo province's investment data: Binh Duong's real parks and a synthetic registry.

Park names, districts and the areas the reference gives are published figures (reference:
investment.md); locations are approximate, and rents, utilities, plots and every project
are synthetic and labelled so (`synthetic: true`). The registry's totals by source country
equal the October 2022 figures: 4,053 projects, USD 39.6 bn; Taiwan 859 / 6.27 bn, Japan
333 / 5.86 bn, Singapore 277 / 5.4 bn, the United States 138 / 1.4 bn. The rest is split
among the other named sources by a synthetic, fixed allocation.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import Any

#: (name, district before 2025, lon, lat, total ha from the reference or None, developer)
PARKS: tuple[tuple[str, str, float, float, float | None, str], ...] = (
    ("VSIP I", "Thuan An", 106.700, 10.940, 500.0, "VSIP (Becamex-Sembcorp)"),
    ("VSIP II", "Thu Dau Mot", 106.680, 11.070, 345.0, "VSIP (Becamex-Sembcorp)"),
    ("VSIP II-A", "Tan Uyen", 106.730, 11.100, 1000.0, "VSIP (Becamex-Sembcorp)"),
    ("VSIP III", "Tan Uyen", 106.800, 11.140, 1000.0, "VSIP (Becamex-Sembcorp)"),
    ("My Phuoc 1", "Ben Cat", 106.600, 11.110, None, "Becamex IDC"),
    ("My Phuoc 2", "Ben Cat", 106.595, 11.130, None, "Becamex IDC"),
    ("My Phuoc 3", "Ben Cat", 106.590, 11.150, 997.7, "Becamex IDC"),
    ("Bau Bang", "Bau Bang", 106.630, 11.250, 2000.0, "Becamex IDC"),
    ("Song Than 1", "Di An", 106.760, 10.900, None, "state developer"),
    ("Song Than 2", "Di An", 106.750, 10.915, None, "state developer"),
    ("Song Than 3", "Thu Dau Mot", 106.690, 11.020, 533.8, "state developer"),
    ("Tan Dong Hiep A", "Di An", 106.770, 10.920, None, "state developer"),
    ("Tan Dong Hiep B", "Di An", 106.780, 10.930, 164.1, "state developer"),
    ("Dai Dang", "Thu Dau Mot", 106.630, 11.050, 274.3, "private developer"),
    ("Dong An 1", "Thuan An", 106.690, 10.960, None, "private developer"),
    ("Dong An 2", "Thu Dau Mot", 106.660, 11.040, None, "private developer"),
    ("Viet Huong 1", "Thuan An", 106.705, 10.950, None, "private developer"),
    ("Viet Huong 2", "Ben Cat", 106.620, 11.220, None, "private developer"),
    ("Nam Tan Uyen", "Tan Uyen", 106.750, 11.050, None, "private developer"),
    ("Rach Bap", "Ben Cat", 106.550, 11.100, None, "private developer"),
    ("Mai Trung", "Ben Cat", 106.600, 11.130, None, "private developer"),
    ("Kim Huy", "Thu Dau Mot", 106.680, 11.060, None, "private developer"),
    ("Dat Cuoc", "Tan Uyen", 106.770, 11.180, None, "private developer"),
    ("Protrade (An Tay)", "Ben Cat", 106.570, 11.080, None, "private developer"),
    ("Cay Truong", "Bau Bang", 106.620, 11.260, None, "private developer"),
    ("Tan Binh", "Tan Uyen", 106.820, 11.110, None, "private developer"),
    ("Phu Tan", "Thu Dau Mot", 106.660, 11.040, None, "private developer"),
    ("Viet Sing", "Thuan An", 106.710, 10.945, None, "VSIP (Becamex-Sembcorp)"),
)

#: source country -> (projects, USD); the first four are the October 2022 published figures
COUNTRIES: dict[str, tuple[int, float]] = {
    "TW": (859, 6.27e9),
    "JP": (333, 5.86e9),
    "SG": (277, 5.40e9),
    "US": (138, 1.40e9),
    # synthetic split of the remaining 2,446 projects and USD 20.67 bn
    "KR": (720, 4.20e9),
    "CN": (640, 3.60e9),
    "HK": (360, 3.10e9),
    "VG": (250, 3.50e9),
    "MY": (170, 2.10e9),
    "NL": (56, 1.27e9),
    "TH": (90, 0.90e9),
    "DE": (60, 0.80e9),
    "FR": (40, 0.50e9),
    "GB": (60, 0.70e9),
}
TOTAL_PROJECTS = 4053
TOTAL_CAPITAL_USD = 39.6e9

#: synthetic sector mix: (VSIC code, name, weight)
SECTORS: tuple[tuple[str, str, float], ...] = (
    ("13110", "Spinning of textiles", 6),
    ("14100", "Wearing apparel", 10),
    ("15200", "Footwear", 7),
    ("16210", "Wood veneer and panels", 5),
    ("31000", "Furniture", 14),
    ("22200", "Plastics products", 9),
    ("25920", "Metal treatment and coating", 8),
    ("28190", "General-purpose machinery", 6),
    ("10790", "Other food products", 6),
    ("20290", "Other chemical products", 4),
    ("17090", "Paper and paperboard articles", 4),
    ("26100", "Electronic components", 8),
    ("26400", "Consumer electronics", 4),
    ("27900", "Other electrical equipment", 5),
    ("62010", "Computer programming", 2),
    ("52100", "Warehousing and storage", 2),
)

#: approximate positions of Cat Lai port and Tan Son Nhat airport (for distances)
_CAT_LAI = (106.790, 10.760)
_TAN_SON_NHAT = (106.660, 10.818)
#: road distance over straight distance, a rough factor for the demo
_ROAD_FACTOR = 1.3


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _square(lon: float, lat: float, hectares: float) -> dict[str, Any]:
    side_km = math.sqrt(hectares / 100)
    half_lat = side_km / 2 / 111.32
    half_lon = half_lat / math.cos(math.radians(lat))
    ring = [
        [round(lon - half_lon, 6), round(lat - half_lat, 6)],
        [round(lon + half_lon, 6), round(lat - half_lat, 6)],
        [round(lon + half_lon, 6), round(lat + half_lat, 6)],
        [round(lon - half_lon, 6), round(lat + half_lat, 6)],
        [round(lon - half_lon, 6), round(lat - half_lat, 6)],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def parks(seed: int = 2025) -> list[dict[str, Any]]:
    """Park bodies (`ParkIn` fields): real names, districts and published areas."""
    rng = random.Random(seed)
    bodies = []
    for name, district, lon, lat, total_ha, developer in PARKS:
        here = (lon, lat)
        capacity = round(rng.uniform(40, 250), 0)
        treatment = round(rng.uniform(4_000, 40_000), -2)
        bodies.append(
            {
                "name": name,
                "developer": developer,
                "admin_unit_before": f"{district}, Binh Duong",
                # district level was abolished on 1 July 2025; the commune mapping is data
                "admin_unit_after": "Ho Chi Minh City",
                "status": "operating",
                "total_ha": total_ha,
                "leased_pct": round(rng.uniform(85, 99), 1),
                "land_rent_usd_m2": round(rng.uniform(90, 200), 0),
                "management_fee_usd_m2_year": round(rng.uniform(0.5, 1.2), 2),
                "power_capacity_mw": capacity,
                "power_spare_mw": round(capacity * rng.uniform(0.05, 0.4), 1),
                "wastewater_capacity_m3_day": treatment,
                "wastewater_spare_m3_day": round(treatment * rng.uniform(0.05, 0.4), -1),
                "seaport_km": round(_km(here, _CAT_LAI) * _ROAD_FACTOR, 1),
                "airport_km": round(_km(here, _TAN_SON_NHAT) * _ROAD_FACTOR, 1),
                "workforce_within_reach": rng.randrange(60_000, 400_000, 1000),
                "boundary": _square(lon, lat, total_ha or 150.0),
                "synthetic": True,
            }
        )
    return bodies


def plots(park_ids: list[int], seed: int = 2025) -> list[dict[str, Any]]:
    """Two to four synthetic plots per park, most of them free."""
    rng = random.Random(seed + 1)
    bodies = []
    for park_id in park_ids:
        for number in range(rng.randint(2, 4)):
            ready = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 900))
            bodies.append(
                {
                    "park_id": park_id,
                    "code": f"L{number + 1}",
                    "area_ha": round(rng.uniform(1, 40), 1),
                    "ready_on": ready.isoformat() if rng.random() < 0.5 else None,
                    "price_usd_m2": round(rng.uniform(90, 210), 0),
                    "status": rng.choices(["free", "reserved", "leased"], [6, 1, 2])[0],
                }
            )
    return bodies


def _split(total: float, count: int, rng: random.Random) -> list[float]:
    """`count` lognormal shares of `total` in whole dollars that add up to it exactly."""
    weights = [rng.lognormvariate(0, 1.2) for _ in range(count)]
    scale = total / sum(weights)
    amounts = [float(round(w * scale)) for w in weights]
    amounts[-1] += total - sum(amounts)
    return amounts


def projects(park_ids: list[int], seed: int = 2025) -> list[dict[str, Any]]:
    """The synthetic registry (`ProjectIn` fields), its totals by country as published."""
    rng = random.Random(seed + 2)
    codes = [s[0] for s in SECTORS]
    names = {s[0]: s[1] for s in SECTORS}
    weights = [s[2] for s in SECTORS]
    start, span = date(1995, 1, 1), (date(2022, 10, 31) - date(1995, 1, 1)).days
    bodies = []
    for country, (count, capital) in COUNTRIES.items():
        for number, amount in enumerate(_split(capital, count, rng)):
            sector = rng.choices(codes, weights)[0]
            land = round(max(0.5, amount / rng.uniform(2e6, 12e6)), 2)
            bodies.append(
                {
                    "certificate_no": f"DEMO-{country}-{number + 1:04d}",
                    "name": f"{names[sector]} project {country}-{number + 1}",
                    "issued_on": (start + timedelta(days=rng.randrange(span))).isoformat(),
                    "investors": [
                        {
                            "name": f"Synthetic investor {country}-{number % 97 + 1}",
                            "country": country,
                        }
                    ],
                    "sector_vsic": sector,
                    "sector_name": names[sector],
                    "capital_usd": amount,
                    "park_id": rng.choice(park_ids),
                    "admin_unit_after": "Ho Chi Minh City",
                    "land_ha": land,
                    "employees_planned": float(max(10, round(land * rng.uniform(10, 120)))),
                    "local_content_pct": round(rng.uniform(5, 60), 1),
                    "equipment_age_years": float(rng.choice([0, 0, 0, 3, 5, 8, 12])),
                    "status": rng.choices(["active", "suspended", "terminated"], [90, 4, 6])[0],
                    "synthetic": True,
                }
            )
    return bodies
