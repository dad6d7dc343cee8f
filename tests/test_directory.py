"""Network directory (issue 6): exchanges.csv / trunks.csv / Wireshark ss7pcs, atomic replacement, invalid
rows reported with line numbers and nothing loaded, chain of custody in sources, and the views that
resolve CDR legs' switches and trunk peers (v_cdr_legs, v_trunks, v_exchanges)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sigtrace
from sigtrace.cli import app
from sigtrace.directory import ROLES, load_directory
from sigtrace.errors import InputError
from sigtrace.pointcode import parse_pc

DATA = Path(__file__).parent / "data" / "cdr"
runner = CliRunner()

EXCHANGES = """point_code,name,province,city,role,ip
1-1-1,Beijing toll,Beijing,Beijing,toll,
1-1-20,Beijing local 1,Beijing,Beijing,local,
18-52-3,Beijing MSC,Beijing,Beijing,msc,
18-52-7,Guangzhou MSC,Guangdong,Guangzhou,msc,
18-70-9,Dongguan VoIP gateway,Guangdong,Dongguan,gateway,10.8.0.9
,Dongguan SBC,Guangdong,Dongguan,sip_proxy,61.142.3.5
"""
TRUNKS = """switch,trunk_group,peer,direction
18-52-3,TG12,1-1-1,out
1-1-1,TG-IN-MSC,18-52-3,in
18-52-7,TG3,18-70-9,both
18-70-9,INTL1,61.142.3.5,in
18-70-9,TG4,18-52-7,out
"""


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def _counts(con):
    return tuple(con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("exchanges", "trunks", "sources"))


def test_load_exchanges_trunks(con, tmp_path):
    ex = _write(tmp_path, "exchanges.csv", EXCHANGES)
    tr = _write(tmp_path, "trunks.csv", TRUNKS)
    rep = load_directory([ex, tr], con)
    assert (rep.exchanges, rep.trunks, rep.replaced) == (6, 5, ["exchanges", "trunks"])
    rows = con.execute("select point_code, pc_int, pc_bits, name, role, ip, loaded_from from exchanges order by name").fetchall()
    assert ("18-52-3", parse_pc("18-52-3")[0], 24, "Beijing MSC", "msc", None, "exchanges.csv") in rows
    assert (None, None, None, "Dongguan SBC", "sip_proxy", "61.142.3.5", "exchanges.csv") in rows
    t = con.execute("select switch, switch_pc, switch_bits, switch_ip, trunk_group, peer, peer_pc, peer_bits, peer_ip, direction "
                    "from trunks where trunk_group = 'INTL1'").fetchone()
    assert t == ("18-70-9", parse_pc("18-70-9")[0], 24, None, "INTL1", "61.142.3.5", None, None, "61.142.3.5", "in")
    # chain of custody: one sources row per file, with the file's sha256
    src = con.execute("select source_name, kind, sha256, packets_read from sources order by source_id").fetchall()
    assert src == [("exchanges.csv", "directory_exchanges", hashlib.sha256(ex.read_bytes()).hexdigest(), 6),
                   ("trunks.csv", "directory_trunks", hashlib.sha256(tr.read_bytes()).hexdigest(), 5)]
    d = rep.to_dict()
    assert [f["kind"] for f in d["files"]] == ["directory_exchanges", "directory_trunks"]
    assert json.loads(rep.to_json())["trunks"] == 5
    assert rep.lines()[-1].startswith("directory now: 6 exchanges, 5 trunk groups")


def test_variant_and_pc_bits_columns_and_trunk_widths(con, tmp_path):
    """'2-100-5' is valid as ITU 3-8-3 and as 8-8-8: the variant column decides; trunks naming it follow."""
    ex = _write(tmp_path, "ex.csv", "point_code,name,role,variant,ni\n2-100-5,Intl gateway (ITU side),gateway,itu,0\n"
                                    "2-100-5,Intl gateway (national side),gateway,china,2\n3001,ITU by decimal,gateway,,\n"
                                    "1-2-3,By pc_bits,toll,,\n")
    ex2 = _write(tmp_path, "ex2.csv", "point_code,name,role,pc_bits\n1-2-3,By pc_bits,toll,14\n")
    tr = _write(tmp_path, "tr.csv", "switch,trunk_group,peer,direction\n2-100-5,TGX,5-6-7,both\n9-9-9,TGY,1-1-1,in\n")
    load_directory([ex, tr], con)
    got = con.execute("select name, pc_int, pc_bits, ni from exchanges order by name").fetchall()
    assert ("Intl gateway (ITU side)", (2 << 11) | (100 << 3) | 5, 14, 0) in got
    assert ("Intl gateway (national side)", (2 << 16) | (100 << 8) | 5, 24, 2) in got
    assert ("ITU by decimal", 3001, 14, None) in got
    # '2-100-5' appears in the directory with two widths: the first one listed wins for trunk text
    t = con.execute("select switch_bits, peer_bits from trunks where trunk_group = 'TGX'").fetchone()
    assert t == (14, 24)
    load_directory([ex2], con)
    assert con.execute("select pc_int, pc_bits from exchanges").fetchall() == [((1 << 11) | (2 << 3) | 3, 14)]


def test_ss7pcs_names_file(con, tmp_path):
    ex = _write(tmp_path, "exchanges.csv", EXCHANGES)
    pcs = _write(tmp_path, "ss7pcs", "# Wireshark personal config: ss7pcs\n"
                                     f"2-{parse_pc('18-52-3')[0]}\tBeijing MSC (ss7pcs)\n"
                                     "0-3001   International STP\n\n2-1193475\tSome tandem\n")
    rep = load_directory([ex, pcs], con)
    assert [f.kind for f in rep.files] == ["directory_exchanges", "directory_ss7pcs"]
    assert rep.exchanges == 6 + 2  # the MSC is already described by exchanges.csv: it gains the NI only
    msc = con.execute("select name, role, ni from exchanges where point_code = '18-52-3'").fetchall()
    assert msc == [("Beijing MSC", "msc", 2)]
    intl = con.execute("select point_code, pc_bits, ni, role, loaded_from from exchanges where name = 'International STP'").fetchone()
    assert intl == ("1-119-1", 14, 0, None, "ss7pcs")


def test_reload_replaces_and_trunks_alone_keep_exchanges(con, tmp_path):
    ex = _write(tmp_path, "exchanges.csv", EXCHANGES)
    tr = _write(tmp_path, "trunks.csv", TRUNKS)
    load_directory([ex, tr], con)
    ex2 = _write(tmp_path, "exchanges_v2.csv", "point_code,name,province,city,role,ip\n7-7-7,New toll,Hebei,Shijiazhuang,toll,\n")
    rep = load_directory([ex2], con)
    assert rep.replaced == ["exchanges"]
    assert con.execute("select name from exchanges").fetchall() == [("New toll",)]
    assert con.execute("select count(*) from trunks").fetchone()[0] == 5  # not given: kept
    tr2 = _write(tmp_path, "trunks_v2.csv", "switch,trunk_group,peer,direction\n7-7-7,TGZ,1-1-1,both\n")
    rep = load_directory([tr2], con)
    assert rep.replaced == ["trunks"]
    assert con.execute("select switch, trunk_group from trunks").fetchall() == [("7-7-7", "TGZ")]
    assert con.execute("select count(*) from exchanges").fetchone()[0] == 1
    # the same file again: no second sources row, content replaced identically
    n = _counts(con)[2]
    rep = load_directory([tr2], con)
    assert _counts(con)[2] == n and rep.files[0].note and rep.files[0].source_id is not None


def test_bad_second_load_leaves_first_intact(con, tmp_path):
    ex = _write(tmp_path, "exchanges.csv", EXCHANGES)
    tr = _write(tmp_path, "trunks.csv", TRUNKS)
    load_directory([ex, tr], con)
    before = _counts(con)
    snapshot = con.execute("select * from exchanges order by name").fetchall(), con.execute("select * from trunks order by trunk_group").fetchall()
    bad_ex = _write(tmp_path, "exchanges_bad.csv",
                    "point_code,name,province,city,role,ip\n"
                    "1-1-1,Fine,Beijing,Beijing,toll,\n"          # line 2 ok
                    "1-1-2,Wrong role,Beijing,Beijing,pbx,\n"     # line 3
                    "300-1-1,Bad pc,Beijing,Beijing,toll,\n"      # line 4
                    "1-1-3,Bad ip,Beijing,Beijing,gateway,10.0.0.999\n"  # line 5
                    ",No pc no ip,Beijing,Beijing,softswitch,\n"  # line 6
                    "1-1-1,Duplicate,Beijing,Beijing,toll,\n")    # line 7
    bad_tr = _write(tmp_path, "trunks_bad.csv",
                    "switch,trunk_group,peer,direction\n"
                    "1-1-1,TG1,1-1-2,sideways\n"                  # line 2
                    "1-1-1,,1-1-2,in\n"                           # line 3
                    "not-a-node,TG2,1-1-2,in\n")                  # line 4
    with pytest.raises(InputError) as ei:
        load_directory([bad_ex, bad_tr], con)
    msg = str(ei.value)
    first, *details = msg.splitlines()
    assert "nothing was changed" in first and "8 problem(s)" in first
    for frag in ("exchanges_bad.csv line 3: role 'pbx'", "exchanges_bad.csv line 4:", "exchanges_bad.csv line 5: ip",
                 "exchanges_bad.csv line 6: neither point_code nor ip", "exchanges_bad.csv line 7: duplicate point code 1-1-1",
                 "trunks_bad.csv line 2: direction 'sideways'", "trunks_bad.csv line 3: trunk_group is empty",
                 "trunks_bad.csv line 4: switch 'not-a-node'"):
        assert any(frag in d for d in details), frag
    assert _counts(con) == before
    assert (con.execute("select * from exchanges order by name").fetchall(),
            con.execute("select * from trunks order by trunk_group").fetchall()) == snapshot


def test_unrecognized_file_refused(con, tmp_path):
    junk = _write(tmp_path, "notes.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(InputError) as ei:
        load_directory([junk], con)
    assert "not a directory file" in str(ei.value) and "found header a,b,c" in str(ei.value)
    assert _counts(con) == (0, 0, 0)


def test_gbk_names(con, tmp_path):
    ex = _write(tmp_path, "交换机.csv", "point_code,name,province,city,role,ip\n18-52-3,北京移动MSC,北京,北京,msc,\n", "gb18030")
    load_directory([ex], con)
    assert con.execute("select name, province from exchanges").fetchone() == ("北京移动MSC", "北京")


def test_roles_are_the_contract_roles():
    assert ROLES == ("local", "tandem", "toll", "msc", "gateway", "softswitch", "sip_proxy")


def test_cli_directory(tmp_path):
    db = tmp_path / "case.duckdb"
    ex = _write(tmp_path, "exchanges.csv", EXCHANGES)
    tr = _write(tmp_path, "trunks.csv", TRUNKS)
    res = runner.invoke(app, ["directory", str(ex), str(tr), "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "6 exchanges, 5 trunk groups" in res.output
    res = runner.invoke(app, ["directory", str(tr), "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["replaced"] == ["trunks"]
    bad = _write(tmp_path, "bad.csv", "switch,trunk_group,peer,direction\n1-1-1,TG,1-1-2,up\n")
    res = runner.invoke(app, ["directory", str(bad), "--db", str(db)])
    assert res.exit_code == 2
    assert "line 2" in res.output
    c = sigtrace.connect(db, read_only=True)
    assert c.execute("select count(*) from trunks").fetchone()[0] == 5
    c.close()


# --------------------------------------------------------------------------- views

def test_views_resolve_switches_and_trunk_peers(con, tmp_path):
    load_directory([_write(tmp_path, "exchanges.csv", EXCHANGES), _write(tmp_path, "trunks.csv", TRUNKS)], con)
    sigtrace.ingest([DATA / "canonical.csv"], db=con)
    legs = {r[0]: r[1:] for r in con.execute(
        "select call_ref, source_name, switch_name, switch_role, in_peer, in_peer_name, in_peer_role, out_peer, "
        "out_peer_name, out_peer_role from v_cdr_legs").fetchall()}
    # r1: MOC at 18-52-3 leaving on TG12 (out) towards the Beijing toll
    assert legs["r1"] == ("canonical.csv", "Beijing MSC", "msc", None, None, None, "1-1-1", "Beijing toll", "toll")
    # r2: MTC at 18-52-7 arriving on TG3 (both) from the gateway
    assert legs["r2"][1:6] == ("Guangzhou MSC", "msc", "18-70-9", "Dongguan VoIP gateway", "gateway")
    # r12: switch text is not a point code: no name, no trunk resolution, still listed
    assert legs["r12"][1:4] == (None, None, None)
    assert con.execute("select count(*) from v_cdr_legs").fetchone()[0] == con.execute("select count(*) from cdr_legs").fetchone()[0]
    t = con.execute("select switch_name, peer, peer_name, peer_role from v_trunks where trunk_group = 'INTL1'").fetchone()
    assert t == ("Dongguan VoIP gateway", "61.142.3.5", "Dongguan SBC", "sip_proxy")
    e = dict(con.execute("select node, trunk_groups from v_exchanges").fetchall())
    assert e["18-70-9"] == 2 and e["61.142.3.5"] == 0
    rej = con.execute("select source_name, row_num from v_cdr_rejects order by row_num").fetchall()
    assert rej[0] == ("canonical.csv", 6)


def test_ip_switch_legs_resolve(con, tmp_path):
    """A softswitch CDR may name its switch by IP: its trunks are found through the IP."""
    load_directory([_write(tmp_path, "exchanges.csv", EXCHANGES),
                    _write(tmp_path, "trunks.csv", "switch,trunk_group,peer,direction\n61.142.3.5,SIPTG,18-70-9,out\n")], con)
    cdr = _write(tmp_path, "ss.csv", "record_type,switch,start_time,duration_s,calling,called,out_trunk\n"
                                     "GW_OUT,61.142.3.5,2024-05-11T14:03:22+08:00,5,13912345678,13800138000,SIPTG\n")
    sigtrace.ingest([cdr], db=con)
    r = con.execute("select switch_pc, switch_name, out_peer, out_peer_name from v_cdr_legs").fetchone()
    assert r == (None, "Dongguan SBC", "18-70-9", "Dongguan VoIP gateway")


def test_my_views_and_columns_are_commented(con):
    views = ("v_cdr_legs", "v_exchanges", "v_trunks", "v_directory_nodes", "v_cdr_rejects")
    for v in views:
        assert con.execute("select comment from duckdb_views() where view_name = $v", {"v": v}).fetchone()[0]
        missing = con.execute("select column_name from duckdb_columns() where table_name = $v and coalesce(comment, '') = ''",
                              {"v": v}).fetchall()
        assert not missing, (v, missing)
    for t in ("cdr_legs", "cdr_rejects", "exchanges", "trunks"):
        missing = con.execute("select column_name from duckdb_columns() where table_name = $v and coalesce(comment, '') = ''",
                              {"v": t}).fetchall()
        assert not missing, (t, missing)
