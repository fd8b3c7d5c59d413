"""Multiple choice (science / math, GPQA-like format): four options, the answer a letter A-D."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from s1flow.nano.core import (
    NAMES,
    VERIFY_RATE,
    Problem,
    Rand,
    check,
    conclude,
    fmt,
    intro,
    is_prime,
    pick_template,
)

#: the option letters, in order
_LETTERS = "ABCD"


@dataclass
class _MC:
    subject: str
    stems: Mapping[str, tuple[str, ...]]
    fields: dict[str, Any]
    value: float
    unit: str
    steps: list[str]
    mistake: float
    mistake_steps: list[str]
    extra: list[float]


# topic -> phrasing family ("pool" / "eval") -> stem templates
_MC_STEMS: dict[str, dict[str, tuple[str, ...]]] = {
    "force": {
        "pool": (
            "A {m} kg cart accelerates at {a} m/s^2. What net force acts on it?",
            "What net force is needed to give a {m} kg box an acceleration of {a} m/s^2?",
        ),
        "eval": ("An object of mass {m} kg undergoes an acceleration of {a} m/s^2. Find the net force.",),
    },
    "speed": {
        "pool": (
            "A cyclist covers {d} m in {t} s at constant speed. What is the speed?",
            "{n} walks {d} m in {t} s. What is the average speed?",
        ),
        "eval": ("Travelling a distance of {d} m takes {t} s. Find the average speed over that interval.",),
    },
    "density": {
        "pool": (
            "A block has mass {mass} g and volume {vol} cm^3. What is its density?",
            "What is the density of a sample with mass {mass} g occupying {vol} cm^3?",
        ),
        "eval": ("A solid specimen weighing {mass} g displaces {vol} cm^3 of water. Find its density.",),
    },
    "neutrons": {
        "pool": (
            "An atom has atomic number {z} and mass number {a}. How many neutrons does it have?",
            "How many neutrons are in a nucleus with {z} protons and mass number {a}?",
        ),
        "eval": ("A nuclide has Z = {z} and A = {a}. Determine its neutron count.",),
    },
    "ohm": {
        "pool": (
            "A current of {i} A flows through a {res} Ω resistor. What is the voltage across it?",
            "What voltage drives {i} A through a resistance of {res} Ω?",
        ),
        "eval": ("A resistor of {res} Ω carries a steady current of {i} A. Find the potential difference.",),
    },
    "moles": {
        "pool": (
            "How many moles are in {mass} g of {name} (molar mass {mm} g/mol)?",
            "A sample of {name} (molar mass {mm} g/mol) has mass {mass} g. How many moles is that?",
        ),
        "eval": ("Given a molar mass of {mm} g/mol, determine the amount of substance in {mass} g {name}.",),
    },
    "wave": {
        "pool": (
            "A wave travels at {v} m/s with frequency {f} Hz. What is its wavelength?",
            "What is the wavelength of a {f} Hz wave moving at {v} m/s?",
        ),
        "eval": ("A periodic wave of frequency {f} Hz propagates with speed {v} m/s. Find the wavelength.",),
    },
    "ke": {
        "pool": (
            "A {m} kg ball moves at {v} m/s. What is its kinetic energy?",
            "What is the kinetic energy of a {m} kg object travelling at {v} m/s?",
        ),
        "eval": ("Determine the translational kinetic energy of a {m} kg mass moving at {v} m/s.",),
    },
    "pe": {
        "pool": (
            "A {m} kg crate is lifted {h} m. Taking g = 10 m/s^2, how much potential energy does it gain?",
            "How much gravitational potential energy does a {m} kg mass gain when raised {h} m "
            "(g = 10 m/s^2)?",
        ),
        "eval": (
            "With g = 10 m/s^2, find the increase in gravitational potential energy of {m} kg "
            "raised by {h} m.",
        ),
    },
    "pressure": {
        "pool": (
            "A force of {F} N acts on an area of {A} cm^2. What pressure does it exert?",
            "What pressure results from {F} N spread evenly over {A} cm^2?",
        ),
        "eval": ("A uniform load of {F} N rests on a contact patch of {A} cm^2. Find the pressure (Pa).",),
    },
    "accel_velocity": {
        "pool": (
            "A net force of {F} N acts on a {m} kg sled initially at rest for {t} s. "
            "What speed does it reach?",
            "Starting from rest, a {m} kg cart is pushed with a constant net force of {F} N for {t} s. "
            "What is its final speed?",
        ),
        "eval": (
            "A body of mass {m} kg, initially stationary, experiences a constant {F} N net force for {t} s. "
            "Find its final speed.",
        ),
    },
    "series": {
        "pool": (
            "A {V} V battery drives current through {r1} Ω and {r2} Ω resistors in series. "
            "What is the voltage across the {r1} Ω resistor?",
            "Resistors of {r1} Ω and {r2} Ω are connected in series to a {V} V source. "
            "Find the voltage drop across the {r1} Ω one.",
        ),
        "eval": (
            "Two resistors, {r1} Ω and {r2} Ω, form a series loop with an ideal {V} V cell. "
            "Determine the potential difference across the {r1} Ω resistor.",
        ),
    },
    "collision": {
        "pool": (
            "A {m1} kg cart moving at {v1} m/s hits and sticks to a stationary {m2} kg cart. "
            "What is their common speed afterwards?",
            "A {m1} kg puck at {v1} m/s collides with a {m2} kg puck at rest, and they move off together. "
            "Find their speed.",
        ),
        "eval": (
            "In a perfectly inelastic collision, {m1} kg moving at {v1} m/s strikes {m2} kg at rest. "
            "Determine the velocity of the combined body.",
        ),
    },
    "stoich": {
        "pool": (
            "Methane burns as CH4 + 2 O2 -> CO2 + 2 H2O. What mass of water forms from {mass} g of "
            "methane (C = 12, H = 1, O = 16)?",
            "If {mass} g of CH4 burns completely (CH4 + 2 O2 -> CO2 + 2 H2O), how many grams of water "
            "form? Use C = 12, H = 1, O = 16.",
        ),
        "eval": (
            "Complete combustion of {mass} g of methane follows CH4 + 2O2 → CO2 + 2H2O. With atomic "
            "masses C 12, H 1, O 16, determine the mass of water produced.",
        ),
    },
    "drop": {
        "pool": (
            "A {m} kg stone is dropped from rest from a height of {h} m (g = 10 m/s^2, no air "
            "resistance). What is its momentum just before it hits the ground?",
            "Ignoring air resistance and taking g = 10 m/s^2, find the momentum of a {m} kg ball "
            "dropped from {h} m at the moment of impact.",
        ),
        "eval": (
            "A {m} kg mass falls freely from rest through {h} m with g = 10 m/s^2. "
            "Determine the magnitude of its momentum on arrival.",
        ),
    },
}


def _mc_force(r: Rand) -> _MC:
    m, a = r.randint(2, 25), r.randint(2, 12)
    return _MC(
        "physics (Newton's second law)", _MC_STEMS["force"], {"m": m, "a": a}, m * a, "N",
        ["Newton's second law: F = m·a.", f"F = {m} kg × {a} m/s^2 = {m * a} N."],
        m * a + m, [f"F = m·a = {m} × {a}, which is {m * a + m} N."],
        [m + a, m * a * 2],
    )  # fmt: skip


def _mc_speed(r: Rand) -> _MC:
    v, t = r.randint(2, 30), r.randint(3, 40)
    dist = v * t
    return _MC(
        "kinematics (average speed)", _MC_STEMS["speed"], {"d": dist, "t": t}, v, "m/s",
        ["Average speed = distance / time.", f"v = {dist} m / {t} s = {v} m/s."],
        v + 1, [f"v = {dist} / {t}, that's about {v + 1} m/s."],
        [dist * t, v * 2],
    )  # fmt: skip


def _mc_density(r: Rand) -> _MC:
    rho, vol = r.randint(2, 20), r.randint(2, 15)
    mass = rho * vol
    return _MC(
        "physics (density)", _MC_STEMS["density"], {"mass": mass, "vol": vol}, rho, "g/cm^3",
        ["Density = mass / volume.", f"ρ = {mass} g / {vol} cm^3 = {rho} g/cm^3."],
        mass * vol, [f"Density relates mass and volume; multiplying, {mass} × {vol} = {mass * vol}."],
        [rho + vol, rho * 2],
    )  # fmt: skip


def _mc_neutrons(r: Rand) -> _MC:
    z = r.randint(6, 80)
    nn = z + r.randint(0, 40)
    a = z + nn
    return _MC(
        "chemistry (nuclear composition)", _MC_STEMS["neutrons"], {"z": z, "a": a}, nn, "neutrons",
        ["Mass number = protons + neutrons.", f"Neutrons = {a} - {z} = {nn}."],
        a + z, [f"Neutrons plus protons... so {a} + {z} = {a + z}."],
        [z, nn + 1],
    )  # fmt: skip


def _mc_ohm(r: Rand) -> _MC:
    cur, res = r.randint(2, 12), r.randint(2, 50)
    return _MC(
        "electricity (Ohm's law)", _MC_STEMS["ohm"], {"i": cur, "res": res}, cur * res, "V",
        ["Ohm's law: V = I·R.", f"V = {cur} A × {res} Ω = {cur * res} V."],
        cur * res - cur, [f"V = I·R = {cur} × {res} = {cur * res - cur} V."],
        [res, cur + res],
    )  # fmt: skip


_MOLAR = (("water", 18), ("methane", 16), ("carbon dioxide", 44), ("oxygen gas", 32), ("nitrogen gas", 28),
          ("ammonia", 17))  # fmt: skip


def _mc_moles(r: Rand) -> _MC:
    name, molar = r.choice(_MOLAR)
    nmol = r.randint(2, 12)
    mass = nmol * molar
    return _MC(
        "chemistry (moles)", _MC_STEMS["moles"], {"mass": mass, "name": name, "mm": molar}, nmol, "mol",
        ["Moles = mass / molar mass.", f"n = {mass} g / {molar} g/mol = {nmol} mol."],
        nmol * 2, [f"n = {mass} / {molar}; that is {nmol * 2} mol."],
        [mass * molar, nmol + 1],
    )  # fmt: skip


def _mc_wave(r: Rand) -> _MC:
    f, lam = r.randint(2, 50), r.randint(2, 20)
    v = f * lam
    return _MC(
        "waves", _MC_STEMS["wave"], {"v": v, "f": f}, lam, "m",
        ["v = f·λ, so λ = v / f.", f"λ = {v} / {f} = {lam} m."],
        v * f, [f"λ = v·f = {v} × {f} = {v * f} m."],
        [lam + 1, lam * 2],
    )  # fmt: skip


def _mc_ke(r: Rand) -> _MC:
    m, v = 2 * r.randint(1, 15), r.randint(2, 20)
    ke = m * v * v // 2
    return _MC(
        "mechanics (kinetic energy)", _MC_STEMS["ke"], {"m": m, "v": v}, ke, "J",
        ["KE = (1/2)·m·v^2.", f"v^2 = {v * v}.", f"KE = 0.5 × {m} × {v * v} = {ke} J."],
        m * v * v, [f"KE = m·v^2 = {m} × {v * v} = {m * v * v} J."],
        [m * v // 2, ke + m],
    )  # fmt: skip


def _mc_pe(r: Rand) -> _MC:
    m, h = r.randint(2, 30), r.randint(2, 50)
    return _MC(
        "mechanics (gravitational potential energy)", _MC_STEMS["pe"], {"m": m, "h": h}, m * 10 * h, "J",
        ["PE = m·g·h.", f"PE = {m} × 10 × {h} = {m * 10 * h} J."],
        m * h, [f"PE = m·h = {m} × {h} = {m * h} J."],
        [m * 10 + h, m * 10 * h * 2],
    )  # fmt: skip


def _mc_pressure(r: Rand) -> _MC:
    area_cm2 = r.choice((10, 20, 25, 40, 50, 100, 200))
    force = max(1, r.randint(1, 40) * area_cm2 // 100)
    p = force * 10000 // area_cm2
    area_m2 = fmt(area_cm2 / 10000)
    return _MC(
        "physics (pressure, unit conversion)", _MC_STEMS["pressure"], {"F": force, "A": area_cm2}, p, "Pa",
        ["Pressure = force / area, with the area in m^2.",
         f"{area_cm2} cm^2 = {area_cm2} × 10^-4 m^2 = {area_m2} m^2.", f"p = {force} / {area_m2} = {p} Pa."],
        p / 100, [f"p = F / A = {force} / {area_cm2} = {fmt(p / 100)} Pa."],
        [p * 10, p / 10],
    )  # fmt: skip


def _mc_accel_velocity(r: Rand) -> _MC:
    m, a, t = r.randint(2, 20), r.randint(1, 8), r.randint(2, 15)
    force = m * a
    return _MC(
        "dynamics (force, acceleration, velocity)", _MC_STEMS["accel_velocity"], {"F": force, "m": m, "t": t},
        a * t, "m/s",
        [f"a = F/m = {force}/{m} = {a} m/s^2.", f"From rest, v = a·t = {a} × {t} = {a * t} m/s."],
        force * t, [f"v = F·t = {force} × {t} = {force * t} m/s."],
        [a * t * 2, a + t],
    )  # fmt: skip


def _mc_series(r: Rand) -> _MC:
    r1, r2 = r.randint(1, 12), r.randint(1, 12)
    cur = r.randint(1, 6)
    v = cur * (r1 + r2)
    return _MC(
        "electric circuits (series resistors)", _MC_STEMS["series"], {"V": v, "r1": r1, "r2": r2},
        cur * r1, "V",
        [f"Total resistance R = {r1} + {r2} = {r1 + r2} Ω.", f"Current I = {v} / {r1 + r2} = {cur} A.",
         f"Voltage across {r1} Ω: V1 = I·R1 = {cur} × {r1} = {cur * r1} V."],
        v / r1, [f"The current in the {r1} Ω resistor is {v}/{r1}, so V1 = {fmt(v / r1)} V."],
        [cur * r2, v],
    )  # fmt: skip


def _mc_collision(r: Rand) -> _MC:
    m1, m2, k = r.randint(1, 10), r.randint(1, 10), r.randint(1, 4)
    v1 = k * (m1 + m2)
    p = m1 * v1
    vf = m1 * k
    return _MC(
        "mechanics (momentum, inelastic collision)", _MC_STEMS["collision"], {"m1": m1, "v1": v1, "m2": m2},
        vf, "m/s",
        ["Momentum is conserved: m1·v1 = (m1 + m2)·v.", f"Initial momentum {m1} × {v1} = {p} kg·m/s.",
         f"v = {p} / ({m1} + {m2}) = {p} / {m1 + m2} = {vf} m/s."],
        p / m2, [f"v = m1·v1 / m2 = {p} / {m2} = {fmt(p / m2)} m/s."],
        [v1, vf * 2],
    )  # fmt: skip


def _mc_stoich(r: Rand) -> _MC:
    nmol = r.randint(1, 12)
    mass = 16 * nmol
    return _MC(
        "chemistry (stoichiometry)", _MC_STEMS["stoich"], {"mass": mass}, 36 * nmol, "g",
        ["Molar mass of CH4 = 12 + 4 = 16 g/mol; of H2O = 2 + 16 = 18 g/mol.",
         f"Moles of CH4 = {mass} / 16 = {nmol} mol.",
         f"Each mole of CH4 gives 2 moles of H2O, so {2 * nmol} mol of water.",
         f"Mass of water = {2 * nmol} × 18 = {36 * nmol} g."],
        18 * nmol, [f"Moles of CH4 = {nmol}, so {nmol} mol of water, i.e. {18 * nmol} g."],
        [mass, 44 * nmol],
    )  # fmt: skip


def _mc_drop(r: Rand) -> _MC:
    v = 10 * r.randint(1, 6)
    h = v * v // 20
    m = r.randint(1, 12)
    return _MC(
        "mechanics (energy conservation, momentum)", _MC_STEMS["drop"], {"m": m, "h": h}, m * v, "kg·m/s",
        ["Energy conservation: m·g·h = (1/2)·m·v^2, so v = sqrt(2·g·h).",
         f"2·g·h = 2 × 10 × {h} = {20 * h}, and sqrt({20 * h}) = {v} m/s.",
         f"Momentum p = m·v = {m} × {v} = {m * v} kg·m/s."],
        m * 10 * h, [f"Momentum is m·g·h = {m} × 10 × {h} = {m * 10 * h} kg·m/s."],
        [m * v * 2, m * v / 2],
    )  # fmt: skip


_MC_TIERS: tuple[tuple[Callable[[Rand], _MC], ...], ...] = (
    (_mc_force, _mc_speed, _mc_density, _mc_neutrons, _mc_ohm),
    (_mc_moles, _mc_wave, _mc_speed, _mc_density),
    (_mc_ke, _mc_pe, _mc_pressure),
    (_mc_accel_velocity, _mc_series, _mc_collision),
    (_mc_stoich, _mc_drop, _mc_collision, _mc_series),
)

_MC_PRIME_STEMS = {
    "pool": ("Which of the following numbers is prime?", "Exactly one of these numbers is prime. Which one?"),
    "eval": ("Identify the prime among the options below.",),
}


def _smallest_factor(x: int) -> int:
    for p in range(2, math.isqrt(x) + 1):
        if x % p == 0:
            return p
    return x


def _mc_options(r: Rand, correct: str, wrong_opts: list[str]) -> tuple[list[str], str]:
    opts = [correct, *wrong_opts[:3]]
    r.shuffle(opts)
    return opts, _LETTERS[opts.index(correct)]


def generate(r: Rand, d: int, wrong: bool, style: str) -> Problem:
    """A "which number is prime?" question (a fifth of those at `d` 1-2), else a science topic of tier `d`."""
    n = r.choice(NAMES)
    if d <= 2 and r.chance(0.2):
        # math MC: which number is prime?
        hi = 100 if d == 1 else 400
        prime = r.randint(11, hi)
        while not is_prime(prime):
            prime += 1
        comps: list[int] = []
        while len(comps) < 3:
            c = r.randint(11, hi) | 1
            hard = c % 5 and c % 3  # no obvious small factor
            if not is_prime(c) and c not in comps and (hard or (c % 3 == 0 and r.chance(0.2))):
                comps.append(c)
        opts, letter = _mc_options(r, str(prime), [str(c) for c in comps])
        t_i, stem = pick_template(r, _MC_PRIME_STEMS, style)
        parts = [intro(r, d, "find which option is prime")]
        picked = letter
        for i, o in enumerate(opts):
            x = int(o)
            f = _smallest_factor(x)
            if f == x:
                root = math.isqrt(x)
                parts.append(f"({_LETTERS[i]}) {x}: no prime factor up to sqrt({x}) ≈ {root}. Prime.")
            elif wrong and picked == letter and f >= 7:
                parts.append(f"({_LETTERS[i]}) {x}: not divisible by 2, 3, or 5... I think it's prime.")
                picked = _LETTERS[i]
            else:
                parts.append(f"({_LETTERS[i]}) {x} = {f} × {x // f}, composite.")
        if wrong and picked == letter:
            picked = _LETTERS[(opts.index(str(comps[0])))]
            parts.append(f"Hmm, on reflection ({picked}) looks more convincing to me.")
        body = stem
        params: dict[str, Any] = {"topic": "prime", "options": opts, "template": t_i}
        value_text = str(prime)
    else:
        topic = r.choice(_MC_TIERS[d - 1])(r)
        value = topic.value
        unit = topic.unit
        right_txt = f"{fmt(float(value))} {unit}"
        wrong_txt: list[str] = []
        for c in [topic.mistake, *topic.extra, value * 3, value + 1, value * 10, value + 2]:
            txt = f"{fmt(float(c))} {unit}"
            if c > 0 and txt != right_txt and txt not in wrong_txt:
                wrong_txt.append(txt)
        opts, letter = _mc_options(r, right_txt, wrong_txt)
        mistake_txt = f"{fmt(float(topic.mistake))} {unit}"
        t_i, stem = pick_template(r, topic.stems, style)
        body = stem.format(n=n, **topic.fields)
        parts = [intro(r, d, f"solve a {topic.subject} question")]
        if d >= 3:
            given = ", ".join(f"{k} = {v}" for k, v in topic.fields.items() if not isinstance(v, str))
            parts.append(f"What is given: {given}. The answer should come out in {unit}.")
        if wrong and mistake_txt in opts:
            parts.extend(topic.mistake_steps)
            picked = _LETTERS[opts.index(mistake_txt)]
            got = mistake_txt
        else:
            parts.extend(topic.steps)
            picked = letter
            got = opts[_LETTERS.index(letter)]
            if wrong:
                picked = _LETTERS[(_LETTERS.index(letter) + 1) % 4]
                got = opts[_LETTERS.index(picked)]
                parts.append(f"Hmm, with rounding that's closest to {got}.")
        if d >= 3:
            verdicts = "; ".join(
                f"({_LETTERS[i]}) {o} " + ("matches" if _LETTERS[i] == picked else "no")
                for i, o in enumerate(opts)
            )
            parts.append(f"Now compare with the options: {verdicts}.")
        else:
            parts.append(f"That's {got}, option ({picked}).")
        if r.chance(VERIFY_RATE[d - 1]):
            parts.append(check(r, "the units and the formula"))
            parts.append(f"The answer should be in {unit}, and the formula fits the situation described.")
        params = {"topic": topic.subject, "fields": topic.fields, "options": opts, "template": t_i}
        value_text = opts[_LETTERS.index(letter)]
    if style == "eval":  # benchmark layout: options on one line, separated by semicolons
        question = body + "\n\nOptions: " + "; ".join(f"({_LETTERS[i]}) {o}" for i, o in enumerate(opts))
    else:
        question = body + "\n\n" + "\n".join(f"({_LETTERS[i]}) {o}" for i, o in enumerate(opts))
    params["correct_option"] = value_text
    parts.append(conclude(r, f"({picked})"))
    attempt = f"Answer: ({picked})" if r.chance(0.6) else f"The correct option is ({picked}).\n\nAnswer: {picked}"
    return Problem(
        question, letter, "\n\n".join(parts), attempt, picked == letter, "mc", params, choices=opts,
    )  # fmt: skip
