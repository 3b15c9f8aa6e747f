"""YAML and CSV inventory files of each kind load into the same, normalised rows."""

from __future__ import annotations

import pytest

from context.conftest import CtxWorkspace

PROVENANCE = {"source", "source_file", "locator", "load_id", "loaded_at"}

# kind -> (YAML text, CSV text, expected rows without provenance, ordered by the table's first column)
CASES = {
    "accounts": (
        """
        accounts:
          - account_id: 012345678901          # leading zero kept: values are read as text
            name: payments-prod
            ou_path: /Root/ Workloads //Prod/
            environment: PROD
            owner: payments-team
            contacts: [pay@example.com, "#pay-oncall"]
            tags: {cost-center: 2040, compliance: pci}
          - account_id: 1111-2222-3333
            environment: no                 # YAML 1.1 would make this false; cairn keeps the text
        """,
        """
        account_id,name,ou_path,environment,owner,contacts,tags
        012345678901,payments-prod,/Root/ Workloads //Prod/,PROD,payments-team,pay@example.com;#pay-oncall,cost-center=2040;compliance=pci
        1111-2222-3333,,,no,,,
        """,
        [
            {"account_id": "012345678901", "name": "payments-prod", "ou_path": "Root/Workloads/Prod",
             "ou_path_list": ["Root", "Workloads", "Prod"], "environment": "prod", "owner": "payments-team",
             "contacts": ["pay@example.com", "#pay-oncall"], "tags": {"compliance": "pci", "cost-center": "2040"}},
            {"account_id": "111122223333", "name": None, "ou_path": None, "ou_path_list": [], "environment": "no",
             "owner": None, "contacts": [], "tags": {}},
        ],
    ),
    "networks": (
        """
        networks:
          10.1.2.3/16: {zone: Corp, site: Lisbon, tags: {floor: "2"}}
          "2001:DB8::/32": {zone: lab, vpc_id: vpc-0abc, account_id: "123456789012", environment: Dev}
          ::ffff:192.0.2.0/120: {zone: partner}
          198.51.100.7: {name: jump-host, subnet_id: subnet-12ab}
        """,
        """
        cidr,zone,site,vpc_id,subnet_id,account_id,environment,name,tag:floor
        10.1.2.3/16,Corp,Lisbon,,,,,,2
        2001:DB8::/32,lab,,vpc-0abc,,123456789012,Dev,,
        ::ffff:192.0.2.0/120,partner,,,,,,,
        198.51.100.7,,,,subnet-12ab,,,jump-host,
        """,
        [
            {"cidr": "10.1.0.0/16", "ip_version": 4, "prefix_len": 16,
             "range_start": bytes.fromhex("00000000000000000000ffff0a010000"),
             "range_end": bytes.fromhex("00000000000000000000ffff0a01ffff"), "zone": "corp", "site": "Lisbon",
             "tags": {"floor": "2"}},
            {"cidr": "192.0.2.0/24", "ip_version": 4, "prefix_len": 24, "zone": "partner"},
            {"cidr": "198.51.100.7/32", "ip_version": 4, "prefix_len": 32, "name": "jump-host",
             "subnet_id": "subnet-12ab"},
            {"cidr": "2001:db8::/32", "ip_version": 6, "prefix_len": 32,
             "range_start": bytes.fromhex("20010db8000000000000000000000000"),
             "range_end": bytes.fromhex("20010db8ffffffffffffffffffffffff"), "zone": "lab", "vpc_id": "vpc-0abc",
             "account_id": "123456789012", "environment": "dev"},
        ],
    ),
    "identities": (
        """
        identities:
          - role_arn: arn:aws:iam::123456789012:role/ops/Admin
            person: Ana Example
            email: Ana@Example.com
            team: ops
          - access_key: AKIAABCDEFGHIJKLMNOP
            person: Bo
          - kind: identity_store_user
            value: ana@example.com
            team: ops
          - principal_arn: arn:aws:sts::123456789012:federated-user/bo
        """,
        """
        kind,value,person,email,team
        role_arn,arn:aws:iam::123456789012:role/ops/Admin,Ana Example,Ana@Example.com,ops
        access_key,AKIAABCDEFGHIJKLMNOP,Bo,,
        identity_store_user,ana@example.com,,,ops
        principal_arn,arn:aws:sts::123456789012:federated-user/bo,,,
        """,
        [
            {"kind": "access_key", "value": "AKIAABCDEFGHIJKLMNOP", "person": "Bo", "account_id": None},
            {"kind": "identity_store_user", "value": "ana@example.com", "team": "ops"},
            {"kind": "principal_arn", "value": "arn:aws:sts::123456789012:federated-user/bo",
             "account_id": "123456789012"},
            {"kind": "role_arn", "value": "arn:aws:iam::123456789012:role/ops/Admin", "person": "Ana Example",
             "email": "ana@example.com", "team": "ops", "account_id": "123456789012"},
        ],
    ),
    "assets": (
        """
        assets:
          - resource_id: arn:aws:s3:::payments-data
            criticality: Critical
            team: payments
          - arn: arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0
            criticality: 2
            env: Prod
          - resource: sg-0123456789abcdef0
            criticality: low
            tags: '{"owner-tag": "x"}'
        """,
        """
        resource_id,criticality,team,environment,tags
        arn:aws:s3:::payments-data,Critical,payments,,
        arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0,2,,Prod,
        sg-0123456789abcdef0,low,,,"{""owner-tag"": ""x""}"
        """,
        [
            {"resource_id": "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0",
             "resource_type": "ec2:instance", "account_id": "123456789012", "region": "eu-west-1",
             "criticality": "medium", "criticality_rank": 2, "environment": "prod"},
            {"resource_id": "arn:aws:s3:::payments-data", "resource_type": "s3:bucket", "account_id": None,
             "criticality": "critical", "criticality_rank": 4, "team": "payments"},
            {"resource_id": "sg-0123456789abcdef0", "resource_type": "ec2:security-group", "criticality": "low",
             "criticality_rank": 1, "tags": {"owner-tag": "x"}},
        ],
    ),
}

ORDER = {"accounts": "account_id", "networks": "ip_version, cidr", "identities": "kind", "assets": "resource_id"}


def _rows(cws: CtxWorkspace, kind: str, source_file: str) -> list[dict]:
    rows = cws.dicts(f"SELECT * FROM ctx_{kind} WHERE source_file = ? ORDER BY {ORDER[kind]}", [source_file])
    return [{k: (dict(v) if k == "tags" else v) for k, v in r.items() if k not in PROVENANCE} for r in rows]


@pytest.mark.parametrize("kind", list(CASES))
def test_yaml_and_csv_give_the_same_rows(cws: CtxWorkspace, kind: str) -> None:
    yaml_text, csv_text, expected = CASES[kind]
    y = cws.write(f"{kind}.yaml", yaml_text)
    c = cws.write(f"{kind}.csv", csv_text)
    reports = cws.load(y, c)
    assert [(r.kind, r.status, r.rows, r.invalid) for r in reports] == [(kind, "loaded", len(expected), 0)] * 2
    from_yaml, from_csv = _rows(cws, kind, str(y.resolve())), _rows(cws, kind, str(c.resolve()))
    assert from_yaml == from_csv
    for got, want in zip(from_yaml, expected, strict=True):
        assert {k: got[k] for k in want} == want


def test_provenance_columns(cws: CtxWorkspace) -> None:
    f = cws.write("a.yaml", "accounts:\n  - account_id: '111122223333'\n  - account_id: '444455556666'\n")
    cws.load(f)
    rows = cws.dicts("SELECT source, source_file, locator, load_id, loaded_at FROM ctx_accounts ORDER BY locator")
    assert [r["locator"] for r in rows] == ["line 2", "line 3"]
    assert {r["source"] for r in rows} == {"file"}
    assert {r["source_file"] for r in rows} == {str(f.resolve())}
    assert len({r["load_id"] for r in rows}) == 1 and rows[0]["loaded_at"] is not None


def test_yaml_mapping_form_anchors_and_several_sections(cws: CtxWorkspace) -> None:
    f = cws.write("org.yml", """
        accounts:
          "111122223333": {<<: &prod {environment: Prod, owner: platform}, name: a}
          "444455556666": {<<: *prod, owner: data}
          "777788889999":
        networks:
          - {cidr: 10.0.0.0/8, <<: *prod}
        """)
    reports = cws.load(f)
    assert [(r.kind, r.rows) for r in reports] == [("accounts", 3), ("networks", 1)]
    got = cws.dicts("SELECT account_id, name, environment, owner FROM ctx_accounts ORDER BY 1")
    assert got == [
        {"account_id": "111122223333", "name": "a", "environment": "prod", "owner": "platform"},
        {"account_id": "444455556666", "name": None, "environment": "prod", "owner": "data"},
        {"account_id": "777788889999", "name": None, "environment": None, "owner": None},
    ]
    assert cws.scalar("SELECT environment FROM ctx_networks") == "prod"


def test_csv_kind_detection_comments_bom_and_aliases(cws: CtxWorkspace) -> None:
    f = cws.files / "net.csv"
    f.write_bytes("\ufeff# our ranges\n\nNetwork, Zone ,VPC,Account\n10.0.0.0/8,corp,vpc-01,111122223333\n"
                  .encode())
    (r,) = cws.load(f)
    assert (r.kind, r.rows) == ("networks", 1)
    assert cws.dicts("SELECT cidr, zone, vpc_id, account_id, locator FROM ctx_networks") == [
        {"cidr": "10.0.0.0/8", "zone": "corp", "vpc_id": "vpc-01", "account_id": "111122223333",
         "locator": "line 4"}]


def test_explicit_kind_for_a_bare_yaml_list(cws: CtxWorkspace) -> None:
    f = cws.write("ids.yaml", "- user: ana\n  team: ops\n- user: bo\n")
    (r,) = cws.load(f, kind="identities")
    assert (r.kind, r.rows) == ("identities", 2)
    assert cws.dicts("SELECT kind, value, team FROM ctx_identities ORDER BY value") == [
        {"kind": "user", "value": "ana", "team": "ops"}, {"kind": "user", "value": "bo", "team": None}]


def test_host_bits_are_cleared_and_noted(cws: CtxWorkspace) -> None:
    f = cws.write("n.csv", "cidr\n10.1.2.3/8\n")
    (r,) = cws.load(f)
    assert r.notes == [f"{f}:2: networks record 1: cidr: '10.1.2.3/8' has host bits set; stored as 10.0.0.0/8"]
    assert cws.scalar("SELECT cidr FROM ctx_networks") == "10.0.0.0/8"
