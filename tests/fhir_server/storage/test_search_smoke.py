from tests.fhir_server.storage.search_support import Store
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.observation import Observation


def test_smoke(ctx):
    s = Store(ctx)
    s.put(Patient(id="p1", name=[{"family": "Müller", "given": ["Hans"]}], birthDate="1970-05-01"),
          Patient(id="p2", name=[{"family": "Meier"}], birthDate="1980"))
    s.put(Observation(id="o1", status="final", code={"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                      subject={"reference": "Patient/p1"}, valueQuantity={"value": 180, "system": "http://unitsofmeasure.org", "code": "cm"}))
    assert s.ids("Patient", "name=muller") == ["p1"]
    assert s.ids("Patient", "name=m") == ["p1", "p2"]
    assert s.ids("Observation", "code=http://loinc.org|8302-2&patient=p1") == ["o1"]
    assert s.ids("Observation", "value-quantity=gt100") == ["o1"]
    assert s.ids("Observation", "subject:Patient.name=hans") == ["o1"]
    assert s.ids("Patient", "_has:Observation:patient:code=8302-2") == ["p1"]
    assert s.ids("Patient", "birthdate=ge1975") == ["p2"]
