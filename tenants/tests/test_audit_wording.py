"""Every audit code has words a lab member can read (tenants/audit_wording.py)."""

from tenants import audit_actions
from tenants.audit_wording import ACTION_WORDING, action_wording, storage_wording

CODES = {name: value for name, value in vars(audit_actions).items()
         if name.isupper() and isinstance(value, str)}


def test_every_action_code_has_its_own_wording():
    missing = sorted(name for name, code in CODES.items() if code not in ACTION_WORDING)
    assert not missing, f"add wording for {missing} to tenants/audit_wording.py"
    assert set(ACTION_WORDING) == set(CODES.values())
    for code, words in ACTION_WORDING.items():
        assert words != code and "." not in words and "_" not in words, code
    assert len(set(ACTION_WORDING.values())) == len(ACTION_WORDING)


def test_a_code_without_wording_still_reads_as_words():
    assert action_wording("sample.moved_to_freezer") == "Sample: moved to freezer"
    assert action_wording(audit_actions.REPORT_DOWNLOADED) == "Report downloaded"


def test_storage_roles_are_described_not_named():
    assert storage_wording("results") == "Kept with the results"
    assert storage_wording("intermediate") == "Working file, removed after a few weeks"
    assert storage_wording("something-new") == "Stored by the portal"
