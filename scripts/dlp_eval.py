#!/usr/bin/env python3
"""Precision and recall of lmgate's DLP detection on a labelled, Faker-made prompt set, and how often it flags
real code, config and logs.

Positives: each entity type's values (Faker's, or real-format secrets made from
the same seeded random) inside realistic sentences. Negatives: look-alikes that
must not be reported (order numbers, dates, versions, UUIDs, tracking numbers,
phone-like product codes, hashes, placeholder credentials...). Deterministic:
the same seed gives the same set and the same table.

Real text: 2 KB chunks of files installed on this machine, read at run time
(nothing is copied into the repo): code is this Python's standard library
(without its test suites, whose fixtures are made of addresses and numbers on
purpose), config is /etc, logs are /var/log and /usr/share/doc's *.log files;
only files any user may read. Chunks are drawn uniformly over the bytes, with
the same seed. A chunk is flagged when anything is found in it; e-mail
addresses found there are real addresses (authors, maintainers), so the rate
is also given without them. Machines differ in what they have installed:
compare runs on one machine.

Each prompt goes through what the scanner runs per prompt field: the Detector
(presidio with lmgate's recognizers) and the overlap merge. A finding is a true
positive when it overlaps a labelled value of its type; a labelled value is
recalled when a finding of its type overlaps it.

    .venv/bin/python scripts/dlp_eval.py [--per-entity 60] [--seed 7] [--optional] [--real-chunks 300]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import hashlib
import hmac
import re
import stat
import string
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from random import Random

import orjson
import phonenumbers
from faker import Faker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, without installing

from lmgate.config import DlpConfig
from lmgate.dlp.analyzer import Detector, Finding
from lmgate.dlp.redact import merge
from lmgate.dlp.settings import DEFAULT_ENTITIES, OPTIONAL_ENTITIES

ALNUM = string.ascii_letters + string.digits
IPV4 = re.compile(r"@(\d{1,3}(?:\.\d{1,3}){3})")
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass
class Sample:
    text: str
    labels: list[tuple[str, int, int]]  # (entity, start, end)


class Maker:
    """Values and sentences, all from one seeded Faker (and its random)."""

    def __init__(self, seed: int) -> None:
        Faker.seed(seed)
        self.fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR"])
        self.us = self.fake["en_US"]
        self.rng = self.us.random
        self.invalid_phones = 0

    def chars(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def sentence(self) -> str:
        return self.us.sentence(nb_words=self.rng.randint(6, 14))

    # --- positive values per entity ---------------------------------------------------------------
    def email(self) -> str:
        fake = self.fake[self.rng.choice(["en_US", "en_GB", "de_DE", "fr_FR"])]  # the proxy's own pick is unseeded
        return self.rng.choice([fake.email, fake.company_email, fake.free_email])()

    def phone(self) -> str:
        """A Faker number that is a real-format number: Faker also makes unassigned area codes, which are not."""
        while True:
            locale = self.rng.choice(["en_US", "en_US", "en_GB", "de_DE", "fr_FR"])
            number = self.fake[locale].phone_number()
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(number, locale[-2:])):
                    return number
            except phonenumbers.NumberParseException:
                pass
            self.invalid_phones += 1

    def card(self) -> str:
        number = self.us.credit_card_number(card_type=self.rng.choice(["visa", "mastercard", "amex", "discover"]))
        if self.rng.random() < 0.4 and len(number) == 16:
            number = " ".join(number[i : i + 4] for i in range(0, 16, 4))
        return number

    def iban(self) -> str:
        iban = self.fake[self.rng.choice(["en_GB", "de_DE", "fr_FR"])].iban()
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if self.rng.random() < 0.4 else iban

    def ssn(self) -> str:
        return self.us.ssn()

    def ip(self) -> str:
        return self.rng.choice([self.us.ipv4_public, self.us.ipv4_private, self.us.ipv6])()

    def btc(self) -> str:
        payload = bytes([self.rng.choice([0x00, 0x05])]) + self.rng.randbytes(20)
        check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
        n = int.from_bytes(payload + check, "big")
        out = ""
        while n:
            n, r = divmod(n, 58)
            out = B58[r] + out
        return "1" * (len(payload + check) - len((payload + check).lstrip(b"\0"))) + out

    def openai_key(self) -> str:
        if self.rng.random() < 0.5:
            return "sk-" + self.chars(20) + "T3BlbkFJ" + self.chars(20)
        return "sk-proj-" + self.chars(74, ALNUM + "_-") + "T3BlbkFJ" + self.chars(74, ALNUM + "_-")

    def anthropic_key(self) -> str:
        return "sk-ant-api03-" + self.chars(93, ALNUM + "_-") + "AA"

    def google_key(self) -> str:
        return "AIza" + self.chars(35, ALNUM + "_-")

    def aws_key(self) -> str:
        return self.rng.choice(["AKIA", "ASIA"]) + self.chars(16, string.ascii_uppercase + "234567")

    def private_key(self) -> str:
        kind = self.rng.choice(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
        lines = [self.chars(64, ALNUM + "+/") for _ in range(self.rng.randint(4, 12))]
        return f"-----BEGIN {kind}PRIVATE KEY-----\n" + "\n".join(lines) + f"\n-----END {kind}PRIVATE KEY-----"

    def jwt(self) -> str:
        def part(doc: dict) -> str:
            return base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=").decode()

        header = part({"alg": self.rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
        payload = part({"sub": self.us.uuid4(), "name": self.us.name(), "iat": self.rng.randint(1.6e9, 1.8e9)})
        signing = f"{header}.{payload}".encode()
        sig = base64.urlsafe_b64encode(hmac.new(self.rng.randbytes(32), signing, "sha256").digest()).rstrip(b"=")
        return f"{header}.{payload}.{sig.decode()}"

    def db_password(self) -> tuple[str, str]:
        """(connection string, the password in it)."""
        password = self.us.password(length=self.rng.randint(10, 20), special_chars=False)
        scheme = self.rng.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp"])
        user = self.rng.choice([self.us.user_name(), "admin", "app", ""])
        host = self.rng.choice([self.us.domain_name(), self.us.ipv4_private(), "db.internal"])
        return f"{scheme}://{user}:{password}@{host}:{self.rng.randint(1000, 9999)}/{self.us.word()}", password


# per entity: sentence templates ({v} = the value) and the value maker
TEMPLATES: dict[str, list[str]] = {
    "EMAIL_ADDRESS": ["Please send the invoice to {v} by Friday.", "My email is {v}, ping me.", "cc: {v}"],
    "PHONE_NUMBER": [
        "Call me at {v} after 5pm.",
        "Phone: {v}",
        "You can reach the on-call engineer on {v}.",
        "Ask Dana ({v}) about the lease.",  # no context word: pattern score only
    ],
    "CREDIT_CARD": ["My card number is {v}, why was it declined?", "Charge {v} for the renewal.", "cc {v} exp 09/27"],
    "IBAN_CODE": ["Wire it to IBAN {v} please.", "Our bank account: {v}", "Refund to {v}."],
    "US_SSN": ["My SSN is {v}.", "Social security number: {v}", "Employee ssn {v} on the W-2 is wrong."],
    "IP_ADDRESS": ["The server at {v} refuses connections.", "Whitelist IP {v} in the firewall.", "ssh to {v}"],
    "CRYPTO": ["Send the BTC to {v}.", "My bitcoin wallet is {v}", "Donations: {v}"],
    "OPENAI_API_KEY": ["Why does {v} give 401?", 'client = OpenAI(api_key="{v}")', "OPENAI_API_KEY={v}"],
    "ANTHROPIC_API_KEY": ["export ANTHROPIC_API_KEY={v}", "My key {v} hits rate limits.", 'x-api-key: "{v}"'],
    "GOOGLE_API_KEY": ["Use key={v} in the URL.", "GEMINI_API_KEY={v}", "The Maps key {v} stopped working."],
    "AWS_ACCESS_KEY": ["aws_access_key_id = {v}", "The access key {v} was rotated?", "AWS_ACCESS_KEY_ID={v}"],
    "PRIVATE_KEY": ["Here is my key:\n{v}\nWhy does ssh say invalid format?", "```\n{v}\n```"],
    "JWT": ["Authorization: Bearer {v}", "Decode this token: {v}", "The session cookie is {v}."],
    "CONNECTION_STRING_PASSWORD": ["DATABASE_URL={v}", "I connect with {v} but get a timeout.", "conn: {v}"],
}

VALUES: dict[str, Callable[[Maker], str]] = {
    "EMAIL_ADDRESS": Maker.email,
    "PHONE_NUMBER": Maker.phone,
    "CREDIT_CARD": Maker.card,
    "IBAN_CODE": Maker.iban,
    "US_SSN": Maker.ssn,
    "IP_ADDRESS": Maker.ip,
    "CRYPTO": Maker.btc,
    "OPENAI_API_KEY": Maker.openai_key,
    "ANTHROPIC_API_KEY": Maker.anthropic_key,
    "GOOGLE_API_KEY": Maker.google_key,
    "AWS_ACCESS_KEY": Maker.aws_key,
    "PRIVATE_KEY": Maker.private_key,
    "JWT": Maker.jwt,
}


# look-alikes: (kind, template with {v}, value maker)
def _when(m: Maker) -> dt.datetime:
    """A date-time between fixed bounds: Faker's defaults end today, which would change the set daily."""
    return m.us.date_time_between_dates(dt.datetime(1990, 1, 1), dt.datetime(2030, 1, 1))


def _digits(m: Maker, low: int, high: int) -> str:
    return str(m.rng.randint(low, high))


NEGATIVES: list[tuple[str, str, Callable[[Maker], str]]] = [
    ("order number", "Order #{v} has not shipped yet.", lambda m: _digits(m, 10**7, 10**11)),
    ("order number", "Your order {v} is confirmed.", lambda m: f"{_digits(m, 100, 999)}-{_digits(m, 10**6, 10**7)}"),
    ("date", "The meeting moved to {v}.", lambda m: _when(m).strftime(m.rng.choice(["%Y-%m-%d", "%m/%d/%Y"]))),
    ("date", "Logged at {v} UTC.", lambda m: _when(m).isoformat()),
    (
        "version",
        "Upgrade from {v} fixed it.",
        lambda m: f"v{_digits(m, 0, 12)}.{_digits(m, 0, 40)}.{_digits(m, 0, 99)}",
    ),
    ("version", "Build {v} is the release candidate.", lambda m: ".".join(_digits(m, 0, 20) for _ in range(4))),
    ("uuid", "Request id {v} failed.", lambda m: m.us.uuid4()),
    ("tracking", "UPS tracking {v}.", lambda m: "1Z" + m.chars(16, string.ascii_uppercase + string.digits)),
    ("tracking", "FedEx {v} is out for delivery.", lambda m: _digits(m, 10**11, 10**12 - 1)),
    ("tracking", "USPS {v}", lambda m: "9400" + m.chars(18, string.digits)),
    ("product code", "Part no. {v} is back-ordered.", lambda m: f"{_digits(m, 200, 999)}-{_digits(m, 100, 999)}-55"),
    (
        "product code",
        "SKU {v} in aisle 4.",
        lambda m: f"{m.chars(2, string.ascii_uppercase)}-{_digits(m, 10**6, 10**7)}",
    ),
    ("hash", "Commit {v} broke the build.", lambda m: m.rng.randbytes(20).hex()),
    ("hash", "sha256: {v}", lambda m: hashlib.sha256(m.rng.randbytes(8)).hexdigest()),
    ("hash", "md5 {v}", lambda m: hashlib.md5(m.rng.randbytes(8)).hexdigest()),
    ("price", "It costs ${v} per seat.", lambda m: f"{_digits(m, 1, 99)},{_digits(m, 100, 999)}.{_digits(m, 10, 99)}"),
    ("invalid card", "Test number {v} (fails Luhn).", lambda m: _break_luhn(m.us.credit_card_number("visa16"))),
    ("isbn", "ISBN {v}", lambda m: m.us.isbn13()),
    (
        "placeholder creds",
        "Use {v} as the template.",
        lambda m: f"postgres://u:${{DB_PASSWORD}}@{m.us.domain_name()}/a",
    ),
    ("url no password", "Clone from {v}", lambda m: f"https://{m.us.user_name()}@{m.us.domain_name()}/repo.git"),
    ("sk- word", "We use {v} for the models.", lambda m: m.rng.choice(["sk-learn", "sk-learn-intelex", "task-runner"])),
    ("dotted id", "Module {v} is deprecated.", lambda m: ".".join(m.us.word() for _ in range(3))),
    ("local address", "Mail root@{v} for the cron output.", lambda m: m.rng.choice(["localhost", "buildbox", "mail"])),
]


def _break_luhn(number: str) -> str:
    last = (int(number[-1]) + 1) % 10
    return number[:-1] + str(last)


def positives(maker: Maker, per_entity: int) -> list[Sample]:
    out = []
    for entity, templates in TEMPLATES.items():
        for i in range(per_entity):
            if entity == "CONNECTION_STRING_PASSWORD":
                conn, value = maker.db_password()
            else:
                conn = value = VALUES[entity](maker)
            before = maker.sentence() + " " + templates[i % len(templates)].split("{v}")[0]
            text = before + conn + templates[i % len(templates)].split("{v}")[1] + " " + maker.sentence()
            start = len(before) + conn.index(value)
            labels = [(entity, start, start + len(value))]
            if entity == "CONNECTION_STRING_PASSWORD" and (ip := IPV4.search(conn)):  # a host given as an address
                labels.append(("IP_ADDRESS", len(before) + ip.start(), len(before) + ip.end()))
            out.append(Sample(text, labels))
    return out


def negatives(maker: Maker, per_kind: int) -> list[Sample]:
    out = []
    for _kind, template, make in NEGATIVES:
        for _ in range(per_kind):
            out.append(Sample(f"{maker.sentence()} {template.format(v=make(maker))} {maker.sentence()}", []))
    for _ in range(per_kind * 4):  # plain prose
        out.append(Sample(maker.us.paragraph(nb_sentences=4), []))
    return out


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(samples: list[Sample], found: list[list[Finding]], threshold: float, entities: list[str]) -> dict:
    tp, fp, fn = Counter(), Counter(), Counter()
    for sample, raw in zip(samples, found, strict=True):
        kept = merge([f for f in raw if f.score >= threshold and f.entity in entities])
        for f in kept:
            hit = any(e == f.entity and overlaps((f.start, f.end), (s, t)) for e, s, t in sample.labels)
            (tp if hit else fp)[f.entity] += 1
        for entity, s, t in sample.labels:
            if not any(f.entity == entity and overlaps((f.start, f.end), (s, t)) for f in kept):
                fn[entity] += 1
    return {"tp": tp, "fp": fp, "fn": fn}


def print_errors(samples: list[Sample], found: list[list[Finding]], threshold: float, entities: list, n: int) -> None:
    shown = Counter()
    for sample, raw in zip(samples, found, strict=True):
        kept = merge([f for f in raw if f.score >= threshold and f.entity in entities])
        for f in kept:
            labelled = any(e == f.entity and overlaps((f.start, f.end), (s, t)) for e, s, t in sample.labels)
            if not labelled and shown["FP " + f.entity] < n:
                shown["FP " + f.entity] += 1
                print(f"FP {f.entity} {f.score:.2f}: {sample.text[f.start : f.end]!r}")
        for entity, s, t in sample.labels:
            missed = not any(f.entity == entity and overlaps((f.start, f.end), (s, t)) for f in kept)
            if missed and shown["FN " + entity] < n:
                shown["FN " + entity] += 1
                near = [(f.entity, round(f.score, 2)) for f in raw if overlaps((f.start, f.end), (s, t))]
                print(f"FN {entity}: {sample.text[s:t]!r} (raw findings there: {near})")


def ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def table(counts: dict, entities: list[str]) -> str:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    rows = [f"{'entity':<28} {'TP':>5} {'FP':>5} {'FN':>5} {'precision':>10} {'recall':>8}"]
    for e in entities:
        precision, recall = ratio(tp[e], tp[e] + fp[e]), ratio(tp[e], tp[e] + fn[e])
        rows.append(f"{e:<28} {tp[e]:>5} {fp[e]:>5} {fn[e]:>5} {precision:>10.3f} {recall:>8.3f}")
    t, f, n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    rows.append(f"{'OVERALL (micro)':<28} {t:>5} {f:>5} {n:>5} {ratio(t, t + f):>10.3f} {ratio(t, t + n):>8.3f}")
    return "\n".join(rows)


# --- real text: code, config and logs installed on this machine --------------------------------------------------
CHUNK = 2048
CONFIG_SUFFIXES = {".conf", ".cfg", ".ini", ".yaml", ".yml", ".json", ".toml", ".xml", ".properties"}
CONFIG_NAMES = {"hosts", "services", "protocols", "networks", "mime.types"}
TEST_DIRS = {"test", "tests", "idle_test", "site-packages"}


def _code() -> Iterator[Path]:
    for path in Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"):
        if not TEST_DIRS & set(path.parts):
            yield path


def _config() -> Iterator[Path]:
    for path in Path("/etc").rglob("*"):
        if path.suffix in CONFIG_SUFFIXES or path.name in CONFIG_NAMES:
            yield path


def _logs() -> Iterator[Path]:
    for root in (Path("/var/log"), Path("/usr/share/doc")):
        yield from root.rglob("*.log")
        yield from root.rglob("*.log.gz")


REAL_SOURCES: dict[str, Callable[[], Iterator[Path]]] = {"code": _code, "config": _config, "log": _logs}


def _readable_text(path: Path) -> str | None:
    """UTF-8 text of a regular file every user may read (never a secret of the machine's), else None."""
    try:
        st = path.stat()
        if not (stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH) or st.st_size < CHUNK:
            return None
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return None if b"\0" in data[:4096] else data.decode("utf-8")
    except (OSError, UnicodeDecodeError, gzip.BadGzipFile, EOFError):
        return None


def real_chunks(source: str, n: int, seed: int) -> tuple[int, list[str]]:
    """(files read, ``n`` chunks of CHUNK characters drawn uniformly over all of the source's text)."""
    texts = [t for path in sorted(set(REAL_SOURCES[source]())) if (t := _readable_text(path)) and len(t) >= CHUNK]
    if not texts:
        return 0, []
    rng = Random(f"{seed}-{source}")
    weights = [len(t) - CHUNK + 1 for t in texts]
    chunks = []
    for text in rng.choices(texts, weights, k=n):
        at = rng.randrange(len(text) - CHUNK + 1)
        chunks.append(text[at : at + CHUNK])
    return len(texts), chunks


def real_text_report(detector: Detector, n: int, seed: int, threshold: float, errors: int) -> None:
    print(f"\nreal text, {n} chunks of {CHUNK} characters per source (flagged: anything found)")
    print(f"{'source':<8} {'files':>6} {'chunks':>7} {'flagged':>8} {'rate':>7} {'w/o e-mail':>11} {'rate':>7}  found")
    total = Counter()
    for source in REAL_SOURCES:
        files, chunks = real_chunks(source, n, seed)
        flagged = flagged_no_email = 0
        types: Counter = Counter()
        shown = 0
        for chunk in chunks:
            kept = merge([f for f in detector.find(chunk) if f.score >= threshold])
            types.update(f.entity for f in kept)
            flagged += bool(kept)
            flagged_no_email += any(f.entity != "EMAIL_ADDRESS" for f in kept)
            for f in kept:
                if f.entity != "EMAIL_ADDRESS" and shown < errors:
                    shown += 1
                    print(f"  {source} {f.entity} {f.score:.2f}: {chunk[f.start : f.end]!r}")
        total.update(files=files, chunks=len(chunks), flagged=flagged, flagged_no_email=flagged_no_email)
        print(_real_row(source, files, len(chunks), flagged, flagged_no_email) + f"  {dict(types.most_common())}")
    print(_real_row("all", total["files"], total["chunks"], total["flagged"], total["flagged_no_email"]))


def _real_row(source: str, files: int, chunks: int, flagged: int, flagged_no_email: int) -> str:
    rate, rate_no_email = ratio(flagged, chunks), ratio(flagged_no_email, chunks)
    return f"{source:<8} {files:>6} {chunks:>7} {flagged:>8} {rate:>7.1%} {flagged_no_email:>11} {rate_no_email:>7.1%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-entity", type=int, default=60, help="positive prompts per entity type")
    parser.add_argument("--per-negative", type=int, default=20, help="prompts per look-alike kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=DlpConfig().score_threshold)
    parser.add_argument("--sweep", default="0.3,0.4,0.5,0.6,0.7", help="thresholds for the summary lines")
    parser.add_argument("--optional", action="store_true", help="also show the opt-in entities' false positives")
    parser.add_argument("--errors", type=int, default=0, help="print up to N misses and false positives (fake values)")
    parser.add_argument("--real-chunks", type=int, default=300, help="chunks of installed code, config and logs")
    args = parser.parse_args()

    maker = Maker(args.seed)
    samples = positives(maker, args.per_entity) + negatives(maker, args.per_negative)
    entities = list(DEFAULT_ENTITIES) + (list(OPTIONAL_ENTITIES) if args.optional else [])
    detector = Detector(DlpConfig(entities=entities, score_threshold=0.0))  # thresholds are applied below
    started = time.perf_counter()
    found = [detector.find(s.text) for s in samples]
    took = time.perf_counter() - started
    positives_n = sum(bool(s.labels) for s in samples)
    print(f"{len(samples)} prompts ({positives_n} with labelled values, {len(samples) - positives_n} look-alikes)")
    print(f"(Faker phone numbers discarded as invalid, e.g. unassigned area codes: {maker.invalid_phones})")
    print(f"seed {args.seed}, scanned in {took:.1f} s; threshold {args.threshold}\n")
    print(table(score(samples, found, args.threshold, entities), entities))
    if args.errors:
        print_errors(samples, found, args.threshold, entities, args.errors)
    print("\nthreshold sweep (overall micro precision / recall):")
    for t in (float(x) for x in args.sweep.split(",")):
        c = score(samples, found, t, entities)
        tp, fp, fn = (sum(c[k].values()) for k in ("tp", "fp", "fn"))
        print(f"  {t:.2f}: precision {ratio(tp, tp + fp):.3f}  recall {ratio(tp, tp + fn):.3f}")
    if args.real_chunks:
        real_text_report(detector, args.real_chunks, args.seed, args.threshold, args.errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
