"""Bad inventory files: every problem is reported with file, line, record and field; nothing is
loaded unless --skip-invalid, which loads the rest and reports the records it left out."""

from __future__ import annotations

import pytest

from cairn.context.problems import InventoryError
from context.conftest import CtxWorkspace

# (file name, content, expected problems with "{f}" for the file's path), one case per row.
CASES = [
    ("accounts.csv", """
        account_id,name,environment,owner,onwer
        12345,a,prod,x,
        """, [
        "{f}:1: unknown column 'onwer' for accounts; valid columns are account_id, name, ou_path, environment, "
        "owner, contacts, tags and tag:KEY",
    ]),
    ("accounts2.csv", """
        id,name,tag:team,contacts
        12345,a,x,
        123456789012,b,,a;b
        abcd-efgh-ijkl,c,,"[1, {""a"": 2}]"
        """, [
        "{f}:2: accounts record 1: account_id: '12345' is not an AWS account id (12 digits)",
        "{f}:4: accounts record 3: account_id: 'abcd-efgh-ijkl' is not an AWS account id (12 digits)",
        "{f}:4: accounts record 3: contacts: list items must be text, got a mapping",
    ]),
    ("accounts.yaml", """
        accounts:
          - name: no id
            tags: [a, b]
          - account_id: "111122223333"
            contacts: {a: b}
          - account_id: "111122223333"
          - account_id: "111122223333"
            id: "444455556666"
          - account_id: "111122223333"
        """, [
        "{f}:2: accounts record 1: account_id: missing (required)",
        "{f}:3: accounts record 1: tags: expected a mapping of tags, got a list",
        "{f}:5: accounts record 2: contacts: expected a list or text separated by ';', got a mapping",
        "{f}:8: accounts record 4: id: given twice (as account_id and an alias of it)",
        "{f}:9: accounts record 5: duplicate account_id 111122223333 (first at line 6)",
    ]),
    ("networks.yaml", """
        networks:
          - cidr: 10.0.0.300/8
            vpc_id: vpc_123
          - cidr: 2001:db8::/129
          - cidr: 10.0.0.0/8
            tags: a=b;c
          - {cidr: 10.0.0.0/8}
          - {cidr: 10.1.2.3/8}
        """, [
        "{f}:2: networks record 1: cidr: '10.0.0.300/8' is not an IPv4 or IPv6 network",
        "{f}:3: networks record 1: vpc_id: 'vpc_123' is not a VPC id (vpc- and hex digits)",
        "{f}:4: networks record 2: cidr: '2001:db8::/129' is not an IPv4 or IPv6 network",
        "{f}:6: networks record 3: tags: expected key=value pairs separated by ';' or a JSON object, got 'a=b;c'",
        "{f}:8: networks record 5: duplicate cidr 10.0.0.0/8 (first at line 7)",
    ]),
    ("identities.yaml", """
        identities:
          - access_key: AKIA123
          - role_arn: arn:aws:iam::123456789012:user/bob
          - principal_arn: arn:aws:s3:::bucket
          - principal_arn: arn:aws:iam:123456789012:user/bob
          - user: ana
            role_arn: arn:aws:iam::123456789012:role/R
          - person: nobody
          - kind: group
            value: admins
          - kind: user
          - role_arn: arn:aws:iam::123456789012:role/R
            account_id: "210987654321"
          - user: ana
            email: ana-at-example
          - user: ana
          - user: ANA
        """, [
        "{f}:2: identities record 1: access_key: 'AKIA123' is not an access key id (AKIA or ASIA and 16 more "
        "letters or digits)",
        "{f}:3: identities record 2: role_arn: 'arn:aws:iam::123456789012:user/bob' is not an IAM role ARN "
        "(arn:aws:iam::123456789012:role/NAME)",
        "{f}:4: identities record 3: principal_arn: 'arn:aws:s3:::bucket' is not an IAM or STS principal ARN",
        "{f}:5: identities record 4: principal_arn: 'arn:aws:iam:123456789012:user/bob' is not an ARN "
        "(arn:partition:service:region:account:resource)",
        "{f}:6: identities record 5: needs exactly one of principal_arn, role_arn, user, access_key, "
        "identity_store_user (or kind and value); got role_arn, user",
        "{f}:8: identities record 6: needs exactly one of principal_arn, role_arn, user, access_key, "
        "identity_store_user (or kind and value)",
        "{f}:9: identities record 7: kind: 'group' is not an identity kind; use principal_arn, role_arn, user, "
        "access_key, identity_store_user",
        "{f}:11: identities record 8: value: missing (kind and value go together)",
        "{f}:13: identities record 9: account_id: 210987654321 does not match the account in the ARN "
        "(123456789012)",
        "{f}:15: identities record 10: email: 'ana-at-example' is not an e-mail address",
        "{f}:17: identities record 12: duplicate identity user ana (first at line 16)",
    ]),
    ("assets.csv", """
        resource_id,criticality,account_id
        arn:aws:s3:::b,urgent,
        my bucket,high,
        ,low,
        i-0abc,5,
        arn:aws:ec2:us-east-1:123456789012:instance/i-1,high,210987654321
        i-0def,low,,extra
        """, [
        "{f}:2: assets record 1: criticality: 'urgent' is not a criticality; use low, medium, high, critical or 1-4",
        "{f}:3: assets record 2: resource_id: 'my bucket' is not a resource id or ARN (it has spaces)",
        "{f}:4: assets record 3: resource_id: missing (required)",
        "{f}:5: assets record 4: criticality: '5' is not a criticality; use low, medium, high, critical or 1-4",
        "{f}:6: assets record 5: account_id: 210987654321 does not match the account in the ARN (123456789012)",
        "{f}:7: assets record 6: row has 4 fields, the header has 3",
    ]),
    ("broken.yaml", "accounts:\n  - account_id: '1'\n  - [unclosed\n", [
        "{f}:4: not valid YAML: expected ',' or ']', but got '<stream end>'",
    ]),
    ("sections.yaml", "accounts: []\nvpcs:\n  - x\n", [
        "{f}:2: unknown section 'vpcs'; expected accounts, networks, identities, assets",
    ]),
    ("list.yaml", "- account_id: '111122223333'\n", [
        "{f}:1: a list of records needs --kind (or put it under an accounts:, networks:, identities: or assets: key)",
    ]),
    ("items.yaml", "networks:\n  - 10.0.0.0/8\n  - {cidr: 10.1.0.0/16}\n", [
        "{f}:2: networks record 1: expected the fields of a record, got '10.0.0.0/8'",
    ]),
    ("what.csv", "name,owner\na,b\n", [
        "{f}:1: cannot tell the kind from the header; name a column account_id, cidr, resource_id or an identity "
        "column (role_arn, user, ...), or use --kind",
    ]),
    ("dupcol.csv", "cidr,zone,Zone\n", ["{f}:1: column 'Zone' appears twice"]),
    ("latin1.csv", b"cidr,site\n10.0.0.0/8,S\xe3o Paulo\n", ["{f}:2: not UTF-8 text"]),
    ("inventory.json", "{}", ["{f}: unknown file type; inventory files end in .yaml, .yml or .csv"]),
]


@pytest.mark.parametrize("name,content,expected", CASES, ids=[c[0] for c in CASES])
def test_every_problem_is_reported_and_nothing_loaded(cws: CtxWorkspace, name: str, content: str | bytes,
                                                      expected: list[str]) -> None:
    if isinstance(content, bytes):
        f = cws.files / name
        f.write_bytes(content)
    else:
        f = cws.write(name, content)
    with pytest.raises(InventoryError) as err:
        cws.load(f)
    assert [str(p) for p in err.value.problems] == [e.format(f=f) for e in expected]
    n = len(expected)
    assert str(err.value).startswith(f"{n} problem{'s' if n > 1 else ''} in inventory files; nothing was loaded")
    assert err.value.exit_code == 3
    assert cws.scalar("SELECT count(*) FROM _cairn_files WHERE table_name LIKE 'ctx_%'") == 0


def test_missing_file(cws: CtxWorkspace) -> None:
    with pytest.raises(InventoryError) as err:
        cws.load(cws.files / "nope.csv")
    assert [str(p) for p in err.value.problems] == [f"{cws.files / 'nope.csv'}: cannot read: No such file or directory"]


def test_a_bad_file_fails_every_file_of_the_command(cws: CtxWorkspace) -> None:
    good = cws.write("good.csv", "cidr\n10.0.0.0/8\n")
    bad = cws.write("bad.csv", "account_id\n1\n")
    with pytest.raises(InventoryError):
        cws.load(good, bad)
    assert cws.scalar("SELECT count(*) FROM ctx_networks") == 0


def test_skip_invalid_loads_the_rest_and_reports(cws: CtxWorkspace) -> None:
    f = cws.write("a.csv", "account_id,name\n111122223333,a\n12,b\n444455556666,c\n111122223333,d\n")
    broken = cws.write("b.yaml", "accounts: [\n")
    reports = cws.load(f, broken, skip_invalid=True)
    assert [(r.file, r.kind, r.status, r.rows, r.invalid) for r in reports] == [
        (str(f), "accounts", "loaded", 2, 2), (str(broken), "auto", "failed", 0, 0)]
    assert reports[0].problems == [
        f"{f}:3: accounts record 2: account_id: '12' is not an AWS account id (12 digits)",
        f"{f}:5: accounts record 4: duplicate account_id 111122223333 (first at line 2)",
    ]
    assert reports[1].problems[0].startswith(f"{broken}:2: not valid YAML")
    assert cws.dicts("SELECT account_id, name FROM ctx_accounts ORDER BY 1") == [
        {"account_id": "111122223333", "name": "a"}, {"account_id": "444455556666", "name": "c"}]
    load = cws.dicts("SELECT rows, invalid, problems FROM ctx_loads")[0]
    assert (load["rows"], load["invalid"]) == (2, 2) and "duplicate account_id" in load["problems"]


def test_skip_invalid_keeps_what_an_unreadable_file_loaded_before(cws: CtxWorkspace) -> None:
    f = cws.write("n.yaml", "networks: [{cidr: 10.0.0.0/8}]\n")
    cws.load(f)
    cws.write("n.yaml", "networks: [{cidr: 10.0.0.0/8}\n")
    (r,) = cws.load(f, skip_invalid=True)
    assert r.status == "failed"
    assert cws.scalar("SELECT count(*) FROM ctx_networks") == 1
