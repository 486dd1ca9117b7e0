#!/usr/bin/env python3
"""bench/gen_fhir.py - synthetic FHIR R4 resources for benchmarks and round-trip tests.

Independent of `medvault gen-emr` on purpose: it writes resources the way the widely used
synthetic-patient generator exports them (urn:uuid or Patient/<uuid> references, US Core
meta.profile URLs, codings with system/code/display from RxNorm, SNOMED CT, LOINC and CVX,
encounters, requesters with display names, times with a zone offset, identifiers), so a
benchmark or test built on it does not only measure what our own generator happens to produce.

    gen_fhir.py --out DIR [--count N] [--type T] [--seed S] [--department D]
                [--ndjson] [--refs urn|relative]

One pretty-printed resource per file (DIR/<Type>-<id>.json), or with --ndjson one file
DIR/<Type>.ndjson with one resource per line. --type is MedicationRequest (default), Condition,
Encounter, Procedure, Immunization, AllergyIntolerance, Patient, Observation, or Bundle (a
transaction Bundle of one patient's Patient, Encounter, Condition, MedicationRequest and
Observation, each entry with fullUrl urn:uuid:<id> and a POST request).

Deterministic: the same arguments give the same bytes (the random generator is seeded with a
string built from --seed, --department and the part being drawn; no clock, no os.urandom).
The patient and practitioner pools depend only on --seed and --department, so resources of
different types drawn with the same seed and department refer to the same patients.

Distributions aim at what makes deduplication behave as in real exports: a few hundred patients
per department, each on one to four long-term drugs out of about thirty common ones (with their
dosage instructions), repeat prescriptions of the same drug and dosage to the same patient every
month or so, and occasional short acute prescriptions. Codes are plausible real codes from the
named terminologies; the data is synthetic and is no clinical reference.

Python 3 standard library only.
"""
import argparse
import datetime
import json
import os
import random
import sys
import uuid

TYPES = ("MedicationRequest", "Condition", "Encounter", "Procedure", "Immunization",
         "AllergyIntolerance", "Patient", "Observation", "Bundle")
DEPARTMENTS = ("cardiology", "neurology", "oncology", "endocrinology", "general")

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
SYNTH_ID = "https://github.com/synthetichealth/synthea"
TERM = "http://terminology.hl7.org/CodeSystem/"

# Drugs: (rxnorm code, display, dosage text, times a day (0 = as needed), dose value, dose unit,
# departments where it is a long-term drug). About thirty common outpatient prescriptions.
DRUGS = [
    ("314076", "lisinopril 10 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, 1, "tablet", "cardiology general"),
    ("259255", "atorvastatin 80 MG Oral Tablet", "Take 1 tablet by mouth once daily at bedtime", 1, 1, "tablet", "cardiology endocrinology"),
    ("866924", "Metoprolol Tartrate 25 MG Oral Tablet", "Take 1 tablet by mouth twice daily", 2, 1, "tablet", "cardiology"),
    ("197361", "Amlodipine 5 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, 1, "tablet", "cardiology general"),
    ("309362", "Clopidogrel 75 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, 1, "tablet", "cardiology"),
    ("855332", "Warfarin Sodium 5 MG Oral Tablet", "Take as directed; dose adjusted to INR", 1, 1, "tablet", "cardiology"),
    ("310798", "Hydrochlorothiazide 25 MG Oral Tablet", "Take 1 tablet by mouth every morning", 1, 1, "tablet", "cardiology general"),
    ("312961", "Simvastatin 20 MG Oral Tablet", "Take 1 tablet by mouth every evening", 1, 1, "tablet", "cardiology general"),
    ("243670", "aspirin 81 MG Oral Tablet", "Take 1 tablet by mouth once daily with food", 1, 1, "tablet", "cardiology neurology"),
    ("705129", "Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray", "1 spray under the tongue at onset of chest pain; may repeat every 5 minutes, at most 3 sprays", 0, 1, "actuation", "cardiology"),
    ("310429", "Furosemide 20 MG Oral Tablet", "Take 1 tablet by mouth once daily in the morning", 1, 1, "tablet", "cardiology"),
    ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", "Take 1 tablet by mouth once daily with the evening meal", 1, 1, "tablet", "endocrinology general"),
    ("310488", "glipiZIDE 5 MG Oral Tablet", "Take 1 tablet by mouth 30 minutes before breakfast", 1, 1, "tablet", "endocrinology"),
    ("311041", "insulin glargine 100 UNT/ML Injectable Solution", "Inject 20 units under the skin once daily at bedtime", 1, 20, "U", "endocrinology"),
    ("966222", "Levothyroxine Sodium 0.075 MG Oral Tablet", "Take 1 tablet by mouth every morning on an empty stomach", 1, 1, "tablet", "endocrinology"),
    ("310431", "Gabapentin 300 MG Oral Capsule", "Take 1 capsule by mouth three times daily", 3, 1, "capsule", "neurology"),
    ("311289", "levETIRAcetam 500 MG Oral Tablet", "Take 1 tablet by mouth twice daily", 2, 1, "tablet", "neurology"),
    ("313161", "SUMAtriptan 50 MG Oral Tablet", "Take 1 tablet by mouth at migraine onset; may repeat after 2 hours", 0, 1, "tablet", "neurology"),
    ("997223", "Donepezil hydrochloride 10 MG Oral Tablet", "Take 1 tablet by mouth at bedtime", 1, 1, "tablet", "neurology"),
    ("198240", "Tamoxifen 20 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, 1, "tablet", "oncology"),
    ("200064", "letrozole 2.5 MG Oral Tablet", "Take 1 tablet by mouth once daily", 1, 1, "tablet", "oncology"),
    ("312086", "Ondansetron 4 MG Oral Tablet", "Take 1 tablet by mouth every 8 hours as needed for nausea", 0, 1, "tablet", "oncology"),
    ("312617", "predniSONE 5 MG Oral Tablet", "Take 1 tablet by mouth once daily with food", 1, 1, "tablet", "oncology general"),
    ("1049221", "Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet", "Take 1 tablet by mouth every 6 hours as needed for pain", 0, 1, "tablet", "oncology"),
    ("745679", "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "Inhale 2 puffs every 4 to 6 hours as needed for wheezing", 0, 2, "actuation", "general"),
    ("895994", "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler", "Inhale 2 puffs twice daily; rinse mouth after use", 2, 2, "actuation", "general"),
    ("308182", "Amoxicillin 250 MG Oral Capsule", "Take 1 capsule by mouth three times daily for 10 days", 3, 1, "capsule", ""),
    ("562251", "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet", "Take 1 tablet by mouth every 8 hours for 7 days", 3, 1, "tablet", ""),
    ("310965", "Ibuprofen 200 MG Oral Tablet", "Take 1 to 2 tablets by mouth every 6 hours as needed for pain", 0, 1, "tablet", ""),
    ("313782", "Acetaminophen 325 MG Oral Tablet", "Take 2 tablets by mouth every 6 hours as needed for pain or fever", 0, 2, "tablet", ""),
    ("849574", "Naproxen sodium 220 MG Oral Tablet", "Take 1 tablet by mouth every 12 hours as needed for pain", 0, 1, "tablet", ""),
]
ACUTE = [d for d in DRUGS if not d[6]]

# Conditions (SNOMED CT) by department: (code, display).
CONDITIONS = {
    "cardiology": [("38341003", "Hypertension"), ("55822004", "Hyperlipidemia"), ("53741008", "Coronary Heart Disease"),
                   ("49436004", "Atrial Fibrillation"), ("88805009", "Chronic congestive heart failure (disorder)"),
                   ("22298006", "Myocardial Infarction")],
    "neurology": [("84757009", "Epilepsy"), ("37796009", "Migraine"), ("230690007", "Stroke"),
                  ("26929004", "Alzheimer's disease (disorder)"), ("386806002", "Impaired cognition (finding)")],
    "oncology": [("254837009", "Malignant neoplasm of breast (disorder)"), ("254637007", "Non-small cell lung cancer (disorder)"),
                 ("363406005", "Malignant tumor of colon"), ("126906006", "Neoplasm of prostate")],
    "endocrinology": [("44054006", "Diabetes mellitus type 2 (disorder)"), ("15777000", "Prediabetes"),
                      ("40930008", "Hypothyroidism (disorder)"), ("162864005", "Body mass index 30+ - obesity (finding)")],
    "general": [("195967001", "Asthma"), ("444814009", "Viral sinusitis (disorder)"), ("10509002", "Acute bronchitis (disorder)"),
                ("271737000", "Anemia (disorder)"), ("38341003", "Hypertension")],
}
ENCOUNTER_TYPES = [("185349003", "Encounter for check up (procedure)"), ("390906007", "Follow-up encounter (procedure)"),
                   ("185345009", "Encounter for symptom (procedure)"), ("162673000", "General examination of patient (procedure)")]
PROCEDURES = {
    "cardiology": [("29303009", "Electrocardiographic procedure"), ("40701008", "Echocardiography (procedure)"),
                   ("415070008", "Percutaneous coronary intervention (procedure)")],
    "neurology": [("54550000", "Electroencephalogram (procedure)"), ("241601008", "Magnetic resonance imaging of head (procedure)")],
    "oncology": [("367336001", "Chemotherapy (procedure)"), ("108290001", "Radiation oncology AND/OR radiotherapy (procedure)"),
                 ("86273004", "Biopsy (procedure)")],
    "endocrinology": [("710824005", "Assessment of health and social care needs (procedure)"),
                      ("36228007", "Ophthalmic examination and evaluation (procedure)")],
    "general": [("430193006", "Medication Reconciliation (procedure)"), ("171207006", "Depression screening (procedure)")],
}
VACCINES = [("140", "Influenza, seasonal, injectable, preservative free"), ("115", "Tdap"), ("113", "Td (adult) preservative free"),
            ("133", "Pneumococcal conjugate PCV 13"), ("33", "pneumococcal polysaccharide vaccine, 23 valent"),
            ("121", "zoster"), ("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose")]
ALLERGENS = [("764146007", "Penicillin (substance)", "medication"), ("387458008", "Aspirin (substance)", "medication"),
             ("762952008", "Peanut (substance)", "food"), ("111088007", "Latex (substance)", "environment"),
             ("256277009", "Grass pollen (substance)", "environment"), ("260147004", "House dust mite (organism)", "environment")]
REACTIONS = [("247472004", "Wheal (finding)"), ("271807003", "Eruption of skin (disorder)"), ("878820003", "Rhinoconjunctivitis (disorder)"),
             ("39579001", "Anaphylaxis (disorder)")]
# Observations (LOINC): (code, display, category, unit, low, high, decimals).
OBSERVATIONS = [("8867-4", "Heart rate", "vital-signs", "/min", 55, 110, 0),
                ("9279-1", "Respiratory rate", "vital-signs", "/min", 12, 20, 0),
                ("29463-7", "Body Weight", "vital-signs", "kg", 48, 130, 1),
                ("39156-5", "Body mass index (BMI) [Ratio]", "vital-signs", "kg/m2", 18, 40, 2),
                ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "laboratory", "mg/dL", 140, 280, 1),
                ("18262-6", "Low Density Lipoprotein Cholesterol", "laboratory", "mg/dL", 60, 190, 1),
                ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "laboratory", "%", 4.8, 10.5, 1),
                ("2339-0", "Glucose [Mass/volume] in Blood", "laboratory", "mg/dL", 65, 220, 1)]
OBS_PROFILE = {"8867-4": "us-core-heart-rate", "9279-1": "us-core-respiratory-rate", "29463-7": "us-core-body-weight",
               "39156-5": "us-core-bmi"}
GIVEN = ["Ada", "Amira", "Ben", "Carlos", "Chen", "Dana", "Elif", "Emma", "Farid", "Grace", "Hana", "Ivan", "Jamal", "Julia",
         "Kai", "Lena", "Liam", "Maria", "Mateo", "Mei", "Noah", "Olga", "Omar", "Priya", "Rosa", "Sam", "Sofia", "Tariq",
         "Uma", "Victor", "Yusuf", "Zoe"]
FAMILY = ["Abbott", "Becker", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jansen", "Kowalski",
          "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga",
          "Weber", "Xu", "Yilmaz", "Zimmer"]
CITIES = [("Boston", "MA", "-05:00", "-04:00"), ("Chicago", "IL", "-06:00", "-05:00"), ("Denver", "CO", "-07:00", "-06:00"),
          ("Seattle", "WA", "-08:00", "-07:00"), ("Phoenix", "AZ", "-07:00", "-07:00")]


def rng_for(seed, *parts):
    """A generator seeded by a string (random.seed hashes str deterministically)."""
    return random.Random(":".join(str(p) for p in (seed,) + parts))


def new_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def coding(system, code, display):
    return {"system": system, "code": code, "display": display}


def concept(system, code, display, text=None):
    return {"coding": [coding(system, code, display)], "text": text or display}


def stamp(day, seconds, city):
    """A dateTime with the city's offset (summer time from April to October, roughly)."""
    off = city[3] if 4 <= day.month <= 10 else city[2]
    t = datetime.datetime(day.year, day.month, day.day) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + off


class World:
    """The patients and practitioners of one department, fixed by (seed, department)."""

    def __init__(self, seed, dept):
        self.seed, self.dept = seed, dept
        r = rng_for(seed, dept, "world")
        self.org = new_uuid(r)
        self.org_name = f"{dept.capitalize()} Clinic of {r.choice(CITIES)[0]}"
        self.practitioners = []
        for _ in range(12):
            npi = str(9999900000 + r.randrange(100000))
            self.practitioners.append({"id": new_uuid(r), "npi": npi,
                                       "name": f"Dr. {r.choice(GIVEN)} {r.choice(FAMILY)}"})
        long_term = [d for d in DRUGS if dept in d[6].split()] or [d for d in DRUGS if d[6]]
        conds = CONDITIONS.get(dept, CONDITIONS["general"])
        self.patients = []
        for _ in range(r.randrange(240, 360)):
            city = r.choice(CITIES)
            born = datetime.date(1935, 1, 1) + datetime.timedelta(days=r.randrange(0, 365 * 70))
            p = {"id": new_uuid(r), "mrn": new_uuid(r), "ssn": f"999-{r.randrange(10, 99)}-{r.randrange(1000, 9999)}",
                 "given": r.choice(GIVEN) + str(r.randrange(100, 999)), "family": r.choice(FAMILY) + str(r.randrange(100, 999)),
                 "gender": r.choice(("male", "female")), "birth": born, "city": city,
                 "doctor": r.choice(self.practitioners), "start": datetime.date(2019, 1, 1) + datetime.timedelta(days=r.randrange(0, 900))}
            p["meds"] = r.sample(long_term, k=min(len(long_term), r.choice((1, 1, 2, 2, 3, 4))))
            p["conditions"] = [(new_uuid(r), c) for c in r.sample(conds, k=min(len(conds), r.choice((1, 2, 2, 3))))]
            self.patients.append(p)
        # A few patients are seen far more often than others, as in real panels.
        self.weights = [1.0 / (1 + i) ** 0.6 for i in range(len(self.patients))]


class Gen:
    def __init__(self, seed, dept, refs, typ):
        self.w = World(seed, dept)
        self.r = rng_for(seed, dept, "records", typ)
        self.refs = refs
        self.next_patient = 0
        self.visits = {}  # patient id -> visits so far (refills advance by about a month)

    def ref(self, typ, rid):
        return f"urn:uuid:{rid}" if self.refs == "urn" else f"{typ}/{rid}"

    def patient(self):
        return self.r.choices(self.w.patients, weights=self.w.weights)[0]

    def visit(self, p):
        """The next visit's day and second of day for p (about monthly, with jitter)."""
        k = self.visits.get(p["id"], 0)
        self.visits[p["id"]] = k + 1
        day = p["start"] + datetime.timedelta(days=28 * k + self.r.randrange(0, 6))
        return day, self.r.randrange(8 * 3600, 18 * 3600)

    def base(self, typ, profile):
        return {"resourceType": typ, "id": new_uuid(self.r), "meta": {"profile": [US_CORE + profile]}}

    def requester(self, p):
        d = p["doctor"]
        return {"reference": f"Practitioner?identifier={NPI}|{d['npi']}", "display": d["name"]}

    def medication_request(self, p=None, enc=None, when=None):
        p = p or self.patient()
        day, sec = when or self.visit(p)
        acute = self.r.random() < 0.12
        drug = self.r.choice(ACUTE) if acute else self.r.choice(p["meds"])
        code, display, text, per_day, dose, unit, _ = drug
        res = self.base("MedicationRequest", "us-core-medicationrequest")
        past = day < datetime.date(2021, 6, 1)
        res.update({
            "status": "stopped" if acute or past else "active",
            "intent": "order",
            "category": [concept(TERM + "medicationrequest-category", "community", "Community")],
            "medicationCodeableConcept": concept(RXNORM, code, display),
            "subject": {"reference": self.ref("Patient", p["id"])},
            "encounter": {"reference": self.ref("Encounter", enc or new_uuid(self.r))},
            "authoredOn": stamp(day, sec, p["city"]),
            "requester": self.requester(p),
        })
        if not acute and p["conditions"]:
            res["reasonReference"] = [{"reference": self.ref("Condition", p["conditions"][0][0])}]
        dosage = {"sequence": 1, "text": text, "asNeededBoolean": per_day == 0,
                  "doseAndRate": [{"type": concept(TERM + "dose-rate-type", "ordered", "Ordered"),
                                   "doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": "{" + unit + "}"}}]}
        if per_day:
            dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
        res["dosageInstruction"] = [dosage]
        supply = 10 if acute else 30
        res["dispenseRequest"] = {"numberOfRepeatsAllowed": 0 if acute else 5,
                                  "quantity": {"value": supply * max(per_day, 1) * dose, "unit": unit},
                                  "expectedSupplyDuration": {"value": supply, "unit": "days", "system": UCUM, "code": "d"}}
        return res

    def condition(self, p=None, enc=None, when=None):
        p = p or self.patient()
        day, sec = when or self.visit(p)
        cid, (code, display) = self.r.choice(p["conditions"])
        res = self.base("Condition", "us-core-condition-encounter-diagnosis")
        res.update({
            "clinicalStatus": {"coding": [{"system": TERM + "condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": TERM + "condition-ver-status", "code": "confirmed"}]},
            "category": [{"coding": [coding(TERM + "condition-category", "encounter-diagnosis", "Encounter Diagnosis")]}],
            "code": concept(SNOMED, code, display),
            "subject": {"reference": self.ref("Patient", p["id"])},
            "encounter": {"reference": self.ref("Encounter", enc or new_uuid(self.r))},
            "onsetDateTime": stamp(p["start"], sec, p["city"]),
            "recordedDate": stamp(day, sec, p["city"]),
        })
        return res

    def encounter(self, p=None, eid=None, when=None):
        p = p or self.patient()
        day, sec = when or self.visit(p)
        code, display = self.r.choice(ENCOUNTER_TYPES)
        res = self.base("Encounter", "us-core-encounter")
        if eid:
            res["id"] = eid
        d = p["doctor"]
        res.update({
            "identifier": [{"use": "official", "system": SYNTH_ID, "value": res["id"]}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [concept(SNOMED, code, display)],
            "subject": {"reference": self.ref("Patient", p["id"]), "display": f"{p['given']} {p['family']}"},
            "participant": [{"type": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PPRF",
                                                         "primary performer")], "text": "primary performer"}],
                             "period": {"start": stamp(day, sec, p["city"]), "end": stamp(day, sec + 900, p["city"])},
                             "individual": {"reference": f"Practitioner?identifier={NPI}|{d['npi']}", "display": d["name"]}}],
            "period": {"start": stamp(day, sec, p["city"]), "end": stamp(day, sec + 900, p["city"])},
            "serviceProvider": {"reference": f"Organization?identifier={SYNTH_ID}|{self.w.org}", "display": self.w.org_name},
        })
        return res

    def procedure(self, p=None, enc=None, when=None):
        p = p or self.patient()
        day, sec = when or self.visit(p)
        code, display = self.r.choice(PROCEDURES.get(self.w.dept, PROCEDURES["general"]))
        res = self.base("Procedure", "us-core-procedure")
        res.update({
            "status": "completed",
            "code": concept(SNOMED, code, display),
            "subject": {"reference": self.ref("Patient", p["id"])},
            "encounter": {"reference": self.ref("Encounter", enc or new_uuid(self.r))},
            "performedPeriod": {"start": stamp(day, sec, p["city"]), "end": stamp(day, sec + 1800, p["city"])},
            "location": {"reference": f"Location?identifier={SYNTH_ID}|{self.w.org}", "display": self.w.org_name},
        })
        if p["conditions"]:
            res["reasonReference"] = [{"reference": self.ref("Condition", p["conditions"][0][0]),
                                       "display": p["conditions"][0][1][1]}]
        return res

    def immunization(self, p=None, enc=None, when=None):
        p = p or self.patient()
        day, sec = when or self.visit(p)
        code, display = self.r.choice(VACCINES)
        res = self.base("Immunization", "us-core-immunization")
        res.update({
            "status": "completed",
            "vaccineCode": {"coding": [coding(CVX, code, display)], "text": display},
            "patient": {"reference": self.ref("Patient", p["id"])},
            "encounter": {"reference": self.ref("Encounter", enc or new_uuid(self.r))},
            "occurrenceDateTime": stamp(day, sec, p["city"]),
            "primarySource": True,
            "location": {"reference": f"Location?identifier={SYNTH_ID}|{self.w.org}", "display": self.w.org_name},
        })
        return res

    def allergy(self, p=None, enc=None, when=None):
        p = p or self.patient()
        day, sec = when or self.visit(p)
        code, display, cat = self.r.choice(ALLERGENS)
        res = self.base("AllergyIntolerance", "us-core-allergyintolerance")
        res.update({
            "clinicalStatus": {"coding": [{"system": TERM + "allergyintolerance-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": TERM + "allergyintolerance-verification", "code": "confirmed"}]},
            "type": "allergy",
            "category": [cat],
            "criticality": self.r.choice(("low", "low", "high")),
            "code": concept(SNOMED, code, display),
            "patient": {"reference": self.ref("Patient", p["id"])},
            "recordedDate": stamp(day, sec, p["city"]),
        })
        rcode, rdisp = self.r.choice(REACTIONS)
        res["reaction"] = [{"manifestation": [concept(SNOMED, rcode, rdisp)],
                            "severity": self.r.choice(("mild", "moderate", "severe"))}]
        return res

    def patient_resource(self, p=None, enc=None, when=None):
        if p is None:  # each patient of the panel in turn, so a directory holds distinct patients
            p = self.w.patients[self.next_patient % len(self.w.patients)]
            self.next_patient += 1
        res = self.base("Patient", "us-core-patient")
        res["id"] = p["id"]
        city, state = p["city"][0], p["city"][1]
        res.update({
            "extension": [{"url": US_CORE + "us-core-birthsex", "valueCode": "M" if p["gender"] == "male" else "F"}],
            "identifier": [
                {"system": SYNTH_ID, "value": p["id"]},
                {"type": concept(TERM + "v2-0203", "MR", "Medical Record Number", "Medical Record Number"),
                 "system": "http://hospital.smarthealthit.org", "value": p["mrn"]},
                {"type": concept(TERM + "v2-0203", "SS", "Social Security Number", "Social Security Number"),
                 "system": "http://hl7.org/fhir/sid/us-ssn", "value": p["ssn"]},
            ],
            "name": [{"use": "official", "family": p["family"], "given": [p["given"]]}],
            "telecom": [{"system": "phone", "value": f"555-{p['ssn'][-4:]}", "use": "home"}],
            "gender": p["gender"],
            "birthDate": p["birth"].isoformat(),
            "address": [{"line": [f"{int(p['ssn'][-4:]) % 900 + 10} Main Street"], "city": city, "state": state, "country": "US"}],
            "maritalStatus": concept("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "M", "Married", "Married"),
            "communication": [{"language": concept("urn:ietf:bcp:47", "en-US", "English (United States)", "English")}],
        })
        return res

    def observation(self, p=None, enc=None, when=None):
        p = p or self.patient()
        day, sec = when or self.visit(p)
        code, display, cat, unit, lo, hi, dec = self.r.choice(OBSERVATIONS)
        profile = OBS_PROFILE.get(code, "us-core-observation-lab")
        res = self.base("Observation", profile)
        value = round(self.r.uniform(lo, hi), dec)
        if dec == 0:
            value = int(value)
        res.update({
            "status": "final",
            "category": [{"coding": [coding(TERM + "observation-category", cat,
                                            "Vital Signs" if cat == "vital-signs" else "Laboratory")]}],
            "code": concept(LOINC, code, display),
            "subject": {"reference": self.ref("Patient", p["id"])},
            "encounter": {"reference": self.ref("Encounter", enc or new_uuid(self.r))},
            "effectiveDateTime": stamp(day, sec, p["city"]),
            "issued": stamp(day, sec + 3600, p["city"])[:19] + ".000" + stamp(day, sec, p["city"])[19:],
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        })
        return res

    def bundle(self):
        """A transaction Bundle: one patient's visit (Encounter, Condition, prescription, vitals)."""
        p = self.patient()
        when = self.visit(p)
        saved, self.refs = self.refs, "urn"  # entries of a transaction refer to each other by fullUrl
        eid = new_uuid(self.r)
        parts = [self.patient_resource(p), self.encounter(p, eid, when), self.condition(p, eid, when),
                 self.medication_request(p, eid, when), self.observation(p, eid, when)]
        self.refs = saved
        return {"resourceType": "Bundle", "id": new_uuid(self.r), "type": "transaction",
                "entry": [{"fullUrl": f"urn:uuid:{x['id']}", "resource": x,
                           "request": {"method": "POST", "url": x["resourceType"]}} for x in parts]}

    def make(self, typ):
        return {"MedicationRequest": self.medication_request, "Condition": self.condition, "Encounter": self.encounter,
                "Procedure": self.procedure, "Immunization": self.immunization, "AllergyIntolerance": self.allergy,
                "Patient": self.patient_resource, "Observation": self.observation, "Bundle": self.bundle}[typ]()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Synthetic FHIR R4 resources in the layout of common synthetic-patient exports.")
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--count", type=int, default=100, help="resources to write (default 100)")
    ap.add_argument("--type", default="MedicationRequest", choices=TYPES)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--department", default="cardiology", help="one of " + ", ".join(DEPARTMENTS))
    ap.add_argument("--ndjson", action="store_true", help="one file <Type>.ndjson, one resource per line")
    ap.add_argument("--refs", default="urn", choices=("urn", "relative"),
                    help="references as urn:uuid:<id> (default) or <Type>/<id>")
    a = ap.parse_args(argv)
    if a.count < 0 or a.count > 10_000_000:
        ap.error("--count must be between 0 and 10000000")
    if a.department not in DEPARTMENTS:
        ap.error(f"unknown department {a.department!r} (one of {', '.join(DEPARTMENTS)})")
    os.makedirs(a.out, exist_ok=True)
    g = Gen(a.seed, a.department, a.refs, a.type)
    if a.ndjson:
        with open(os.path.join(a.out, f"{a.type}.ndjson"), "w", encoding="utf-8") as f:
            for _ in range(a.count):
                f.write(json.dumps(g.make(a.type), ensure_ascii=False, separators=(",", ":")) + "\n")
    else:
        for _ in range(a.count):
            res = g.make(a.type)
            path = os.path.join(a.out, f"{a.type}-{res['id']}.json")
            if os.path.exists(path):  # a Patient or Condition drawn twice: one file per resource id
                path = os.path.join(a.out, f"{a.type}-{res['id']}-{new_uuid(g.r)[:8]}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(res, f, ensure_ascii=False, indent=2)
                f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
