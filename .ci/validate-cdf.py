#!/usr/bin/env python3
"""Validates an `urna export cdf` report against the NIST SP 1500-100 v2 JSON schema.

Usage: validate-cdf.py SCHEMA REPORT

1. JSON Schema: the schema declares draft-04, so it is checked with jsonschema's
   Draft4Validator (and its format checker: date-time needs rfc3339-validator installed).
   The validator is first shown to refuse two broken copies of the report, so a pass cannot
   come from a validator that checks nothing.
2. What the schema cannot say (NIST's Schematron rules say some of it): every @id is unique;
   every GpUnitId, ElectionScopeId, ElectionDistrictId, ComposingGpUnitIds, PartyIds,
   ContestIds, CandidateIds, PartyId and PersonId entry names an object of the right kind;
   every Candidate is referenced by a CandidateSelection and every Person by a Candidate (as
   NIST's Schematron rules require); StartDate and EndDate are calendar dates; and for every
   selection (PartySelection or CandidateSelection), a unit's total VoteCounts equal the sum
   of its composing units' (a unit's counts are the sums of its counted stations').

Exits 1 on any error (each printed with its JSON path), 2 on bad usage.
"""

import copy
import datetime
import json
import sys

import jsonschema
from jsonschema.validators import validator_for

MAX_SHOWN = 20


def path_of(error):
    return "$" + "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)


def schema_errors(validator, doc):
    return sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))


def semantic_errors(doc):
    errors = []
    ids = {}

    def walk(v):
        if isinstance(v, dict):
            if "@id" in v:
                if v["@id"] in ids:
                    errors.append(f"@id {v['@id']!r} is defined twice")
                ids[v["@id"]] = v.get("@type", "")
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(doc)
    gp_units = {g["@id"]: g for g in doc.get("GpUnit", [])}
    parties = {p["@id"] for p in doc.get("Party", [])}
    persons = {p["@id"] for p in doc.get("Person", [])}

    def expect(ref, kinds, where):
        if ids.get(ref) not in kinds:
            errors.append(f"{where}: {ref!r} is not a {' or '.join(kinds)}")

    gp = ("ElectionResults.ReportingUnit", "ElectionResults.ReportingDevice")
    party = ("ElectionResults.Party", "ElectionResults.Coalition")
    contest_kinds = tuple(
        f"ElectionResults.{k}"
        for k in ("PartyContest", "CandidateContest", "BallotMeasureContest", "RetentionContest")
    )
    for g in gp_units.values():
        for c in g.get("ComposingGpUnitIds", []):
            expect(c, gp, f"GpUnit {g['@id']} ComposingGpUnitIds")
    for p in doc.get("Party", []):
        for c in p.get("ContestIds", []):
            expect(c, contest_kinds, f"Party {p['@id']} ContestIds")
    person_refs = set()
    for e in doc.get("Election", []):
        candidates = {c["@id"] for c in e.get("Candidate", [])}
        candidate_refs = set()
        for c in e.get("Candidate", []):
            if "PartyId" in c:
                expect(c["PartyId"], party, f"Candidate {c['@id']} PartyId")
            if "PersonId" in c:
                person_refs.add(c["PersonId"])
                if c["PersonId"] not in persons:
                    errors.append(f"Candidate {c['@id']} PersonId: {c['PersonId']!r} is not a Person")
        expect(e["ElectionScopeId"], gp, "Election ElectionScopeId")
        for key in ("StartDate", "EndDate"):
            try:
                datetime.date.fromisoformat(e[key])
                if len(e[key]) != 10:
                    raise ValueError
            except ValueError:
                errors.append(f"Election {key} {e[key]!r} is not a calendar date YYYY-MM-DD")
        for b in e.get("BallotCounts", []):
            expect(b["GpUnitId"], gp, "BallotCounts GpUnitId")
        for c in e.get("Contest", []):
            expect(c["ElectionDistrictId"], gp, f"Contest {c['@id']} ElectionDistrictId")
            for s in c.get("ContestSelection", []):
                for p in s.get("PartyIds", []):
                    if p not in parties:
                        errors.append(f"Selection {s['@id']} PartyIds: {p!r} is not a Party")
                for k in s.get("CandidateIds", []):
                    candidate_refs.add(k)
                    if k not in candidates:
                        errors.append(f"Selection {s['@id']} CandidateIds: {k!r} is not a Candidate")
                totals = {}
                for v in s.get("VoteCounts", []):
                    expect(v["GpUnitId"], gp, f"Selection {s['@id']} VoteCounts GpUnitId")
                    if v["Type"] == "total":
                        totals[v["GpUnitId"]] = v["Count"]
                for unit, count in totals.items():
                    parts = gp_units.get(unit, {}).get("ComposingGpUnitIds")
                    if parts:
                        summed = sum(totals.get(p, 0) for p in parts)
                        if summed != count:
                            errors.append(
                                f"Selection {s['@id']}: {unit} has {count} votes, "
                                f"its composing units {summed}"
                            )
        for c in sorted(candidates - candidate_refs):
            errors.append(f"Candidate {c!r} is referenced by no CandidateSelection")
    for p in sorted(persons - person_refs):
        errors.append(f"Person {p!r} is referenced by no Candidate")
    return errors


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema_path, report_path = sys.argv[1:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = validator_for(schema, default=None)
    if cls is not jsonschema.Draft4Validator:
        print(f"{schema_path}: expected a draft-04 schema, got {schema.get('$schema')!r}", file=sys.stderr)
        return 1
    cls.check_schema(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    with open(report_path, encoding="utf-8") as f:
        doc = json.load(f)

    # The validator must refuse broken reports.
    broken_status = copy.deepcopy(doc)
    broken_status["Status"] = "pre-certified"
    broken_count = copy.deepcopy(doc)
    del broken_count["GpUnit"][-1]["@type"]
    broken = [("an unknown Status", broken_status), ("a GpUnit without @type", broken_count)]
    if doc["Election"][0].get("Candidate"):
        broken_candidate = copy.deepcopy(doc)
        del broken_candidate["Election"][0]["Candidate"][-1]["BallotName"]
        broken.append(("a Candidate without BallotName", broken_candidate))
    for what, bad in broken:
        if validator.is_valid(bad):
            print(f"validate-cdf: the validator accepted a report with {what}", file=sys.stderr)
            return 1

    errors = [f"{path_of(e)}: {e.message}" for e in schema_errors(validator, doc)]
    schema_count = len(errors)
    errors += semantic_errors(doc)
    for e in errors[:MAX_SHOWN]:
        print(f"{report_path}: {e}", file=sys.stderr)
    if errors:
        more = f" (first {MAX_SHOWN} shown)" if len(errors) > MAX_SHOWN else ""
        print(
            f"{report_path}: {schema_count} schema error(s), {len(errors) - schema_count} "
            f"reference or sum error(s){more}",
            file=sys.stderr,
        )
        return 1
    election = doc["Election"][0]
    votes = sum(len(s.get("VoteCounts", [])) for c in election.get("Contest", []) for s in c["ContestSelection"])
    print(
        f"{report_path}: valid against {schema_path} ({cls.__name__}, jsonschema "
        f"{jsonschema_version()}): {len(doc.get('GpUnit', []))} GpUnits, "
        f"{len(election.get('Contest', []))} contest(s), "
        f"{len(election.get('Candidate', []))} candidate(s), {votes} VoteCounts, "
        f"{len(election.get('BallotCounts', []))} BallotCounts, Status {doc['Status']}; "
        f"every reference resolves and every unit's votes are the sum of its parts"
    )
    return 0


def jsonschema_version():
    from importlib.metadata import version

    return version("jsonschema")


if __name__ == "__main__":
    sys.exit(main())
