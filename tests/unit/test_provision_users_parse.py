"""Unit tests of scripts/python/provision_users.py: the CSV parser, the field rules, the host checks and
the plan, against docs/reference/users-csv.md. Pure functions only: no root, no Docker, nothing on the
machine running the tests is read or changed (host state is built in memory or under tmp_path).
"""

import base64
import importlib.util
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tssrkit.paths import SCRIPTS

SCRIPT = SCRIPTS / "python" / "provision_users.py"


def _load():
    spec = importlib.util.spec_from_file_location("provision_users", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pu = _load()

HEADER = "login;first_name;last_name;groups;shell;ssh_key;state\n"
NAME_PATTERN = "^[a-z_][a-z0-9_-]{0,31}$"


def parse(text: str | bytes, filename: str = "users.csv"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return pu.parse_csv(data, filename)


def messages(problems) -> list[str]:
    return [str(p) for p in problems]


def load_users(text: str):
    records, problems = parse(text)
    users, more = pu.validate_rows(records, "users.csv")
    return users, messages(problems + more)


def one_row_problem(row: str) -> list[str]:
    return load_users(HEADER + row + "\n")[1]


# ---- keys, built byte for byte (no ssh-keygen needed) -----------------------------------------------
def ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def key(key_type: str, body: bytes, comment: str = "alice@pc") -> str:
    blob = ssh_string(key_type.encode()) + body
    return f"{key_type} {base64.b64encode(blob).decode()}" + (f" {comment}" if comment else "")


def ed25519(comment: str = "alice@pc") -> str:
    return key("ssh-ed25519", ssh_string(b"\x11" * 32), comment)


def ecdsa(bits: int) -> str:
    point = {256: 65, 384: 97, 521: 133}[bits]
    return key(f"ecdsa-sha2-nistp{bits}", ssh_string(f"nistp{bits}".encode()) + ssh_string(b"\x04" * point))


def rsa(bits: int) -> str:
    modulus = b"\x00" + b"\xc3" * (bits // 8)
    return key("ssh-rsa", ssh_string(b"\x01\x00\x01") + ssh_string(modulus))


# ---- the file format ---------------------------------------------------------------------------------
def test_semicolon_in_the_header_makes_semicolon_the_delimiter():
    records, problems = parse("login;first_name;last_name\nalice;Alice, Jr;Martin\n")
    assert problems == []
    assert records[0].values == {"login": "alice", "first_name": "Alice, Jr", "last_name": "Martin"}


def test_header_without_semicolon_makes_comma_the_delimiter():
    records, problems = parse("login,first_name,last_name\nalice,Alice,Martin\n")
    assert problems == []
    assert records[0].values["last_name"] == "Martin"


def test_byte_order_mark_at_the_very_start_is_ignored():
    records, problems = parse(b"\xef\xbb\xbflogin;first_name;last_name\nalice;Alice;Martin\n")
    assert problems == []
    assert records[0].values["login"] == "alice"


def test_byte_order_mark_elsewhere_is_refused_as_a_character():
    assert one_row_problem("bob;\ufeffBob;Martin;;;;") == [
        "users.csv:2:first_name: character U+FEFF is not allowed"]


def test_crlf_line_endings_are_accepted():
    records, problems = parse("login;first_name;last_name\r\nalice;Alice;Martin\r\n")
    assert problems == []
    assert records[0].values["last_name"] == "Martin"


def test_carriage_return_inside_a_line_is_refused():
    assert one_row_problem("bob;Bo\rb;Martin;;;;") == [
        "users.csv:2:first_name: character U+000D is not allowed"]


def test_empty_and_space_only_lines_are_skipped_and_line_numbers_stay_physical():
    records, problems = parse("\n   \nlogin;first_name;last_name\n\n  \nalice;Alice;Martin\nBad;B;C\n")
    users, more = pu.validate_rows(records, "users.csv")
    assert problems == []
    assert [r.line for r in records] == [6, 7]
    assert messages(more) == [f"users.csv:7:login: 'Bad' does not match {NAME_PATTERN}"]


def test_header_line_number_is_its_physical_line():
    _, problems = parse("\n\nlogin;first_name;last_name;email\n")
    assert messages(problems) == ["users.csv:3:header: unknown column 'email'"]


def test_spaces_around_fields_are_ignored():
    records, _ = parse("login ; first_name;last_name\n  alice  ;  Alice ;Martin   \n")
    assert records[0].values == {"login": "alice", "first_name": "Alice", "last_name": "Martin"}


def test_spaces_inside_quotes_are_kept():
    records, _ = parse('login;first_name;last_name\nalice; " Alice " ;Martin\n')
    assert records[0].values["first_name"] == " Alice "


def test_doubled_quote_inside_a_quoted_field_is_one_quote():
    records, problems = parse('login;first_name;last_name\nalice;"A ""B"" C";Martin\n')
    assert problems == []
    assert records[0].values["first_name"] == 'A "B" C'


def test_delimiter_inside_quotes_is_data_not_a_separator():
    records, problems = parse('login;first_name;last_name\nalice;"Alice;Bob";Martin\n')
    assert problems == []
    assert records[0].values["first_name"] == "Alice;Bob"


def test_empty_quoted_field_is_an_empty_value():
    records, problems = parse('login;first_name;last_name;groups\nalice;Alice;Martin;""\n')
    assert problems == []
    assert records[0].values["groups"] == ""


def test_quote_inside_unquoted_field_is_an_error():
    _, problems = parse('login;first_name;last_name\nalice;Al"ice;Martin\n')
    assert messages(problems) == ["users.csv:2:first_name: quote inside unquoted field"]


def test_text_after_closing_quote_is_an_error():
    _, problems = parse('login;first_name;last_name\nalice;"Al"ice;Martin\n')
    assert messages(problems) == ["users.csv:2:first_name: text after closing quote"]


def test_quoting_error_past_the_last_column_is_a_row_error():
    _, problems = parse('login;first_name;last_name\nalice;Alice;Martin;"x"y\n')
    assert messages(problems) == ["users.csv:2:row: text after closing quote"]


def test_spaces_after_closing_quote_are_allowed():
    records, problems = parse('login;first_name;last_name\nalice;"Alice"   ;"Martin"  \n')
    assert problems == []
    assert records[0].values["last_name"] == "Martin"


def test_unterminated_quoted_field_is_an_error_and_never_spans_lines():
    records, problems = parse('login;first_name;last_name\nalice;"Alice;Martin\nbob;Bob";Durand\n')
    assert messages(problems) == ["users.csv:2:first_name: unterminated quoted field",
                                  "users.csv:3:first_name: quote inside unquoted field"]
    assert records == []


def test_quoting_errors_in_the_header_are_header_errors():
    _, problems = parse('"login;first_name;last_name\n')
    assert messages(problems) == ["users.csv:1:header: unterminated quoted field"]


def test_row_with_too_few_or_too_many_fields_is_an_error():
    _, problems = parse("login;first_name;last_name\nalice;Alice\nbob;Bob;Durand;x\n")
    assert messages(problems) == ["users.csv:2:row: expected 3 fields, found 2",
                                  "users.csv:3:row: expected 3 fields, found 4"]


def test_trailing_delimiter_counts_as_one_more_empty_field():
    _, problems = parse("login;first_name;last_name\nalice;Alice;Martin;\n")
    assert messages(problems) == ["users.csv:2:row: expected 3 fields, found 4"]


def test_invalid_utf8_is_an_encoding_error_naming_the_line():
    _, problems = parse(b"login;first_name;last_name\nalice;Al\xe9;Martin\n")
    assert len(problems) == 1
    assert str(problems[0]).startswith("users.csv:2:encoding: invalid UTF-8")


def test_nul_byte_is_an_encoding_error_naming_the_line():
    _, problems = parse(b"login;first_name;last_name\nalice;Al\x00ice;Martin\n")
    assert len(problems) == 1
    assert str(problems[0]).startswith("users.csv:2:encoding: NUL byte")


def test_every_encoding_error_of_the_file_is_reported():
    _, problems = parse(b"login;first_name;last_name\na;\xff;b\nc;d;e\nf;\xc3;g\nh;\x00;i\n")
    assert [(p.line, p.field) for p in problems] == [(2, "encoding"), (4, "encoding"), (5, "encoding")]


def test_undecodable_header_is_reported_and_no_row_is_read():
    records, problems = parse(b"login;first\xff;last_name\nalice;Alice;Martin\n")
    assert records == []
    assert [(p.line, p.field) for p in problems] == [(1, "encoding")]


def test_header_with_a_problem_is_reported_alone_and_no_row_is_read():
    records, problems = parse("login;first_name;last_name;email\nBad;B$;C;x\n")
    assert records == []
    assert messages(problems) == ["users.csv:1:header: unknown column 'email'"]


def test_unknown_column_is_a_header_error():
    _, problems = parse("login;first_name;last_name;email\nalice;Alice;Martin;a@b.c\n")
    assert messages(problems) == ["users.csv:1:header: unknown column 'email'"]


def test_column_names_are_case_sensitive():
    _, problems = parse("Login;first_name;last_name\n")
    assert "users.csv:1:header: unknown column 'Login'" in messages(problems)


def test_repeated_column_is_a_header_error():
    _, problems = parse("login;first_name;last_name;login\n")
    assert messages(problems) == ["users.csv:1:header: repeated column 'login'"]


@pytest.mark.parametrize("missing", ["login", "first_name", "last_name"])
def test_missing_required_column_is_a_header_error(missing):
    columns = [c for c in ("login", "first_name", "last_name", "groups") if c != missing]
    _, problems = parse(";".join(columns) + "\n")
    assert messages(problems) == [f"users.csv:1:header: missing required column '{missing}'"]


def test_column_names_are_trimmed_even_when_quoted():
    records, problems = parse('" login ";first_name; last_name \nalice;Alice;Martin\n')
    assert problems == []
    assert records[0].values["login"] == "alice"


def test_optional_columns_may_come_in_any_order():
    users, problems = load_users("state;ssh_key;last_name;shell;first_name;groups;login\n"
                                 "absent;;Martin;/bin/sh;Alice;dev;alice\n")
    assert problems == []
    assert users[0] == pu.User(2, "alice", "Alice", "Martin", ("dev",), "/bin/sh", "", "absent")


def test_empty_file_is_an_error_about_the_missing_header():
    _, problems = parse(b"\n  \r\n")
    assert messages(problems) == ["users.csv:1:header: no header line (the file is empty)"]


def test_header_alone_means_no_user_and_no_problem():
    assert load_users(HEADER) == ([], [])


def test_problem_prints_as_file_line_field_message():
    assert str(pu.Problem("users.csv", 4, "login", "boom")) == "users.csv:4:login: boom"


def test_messages_name_the_file_as_given():
    _, problems = parse("login;first_name;last_name;x\n", filename="/srv/in/users.csv")
    assert messages(problems) == ["/srv/in/users.csv:1:header: unknown column 'x'"]


# ---- login and groups ----------------------------------------------------------------------------------
@pytest.mark.parametrize("login", ["alice", "_svc", "a", "j-dupont", "user_01", "a" * 32])
def test_valid_logins_are_accepted(login):
    assert one_row_problem(f"{login};A;B;;;;") == []


@pytest.mark.parametrize("login", ["Alice", "9lives", "-x", "a" * 33, "jean.dupont", "élodie", "a b",
                                   "$(touch /tmp/pwned)", "`id`", "a;b", "a|b", ""])
def test_invalid_logins_are_refused_with_the_pattern(login):
    quoted = f'"{login}"' if ";" in login else login
    assert one_row_problem(f"{quoted};A;B;;;;") == [
        f"users.csv:2:login: {pu.shown(login)} does not match {NAME_PATTERN}"]


def test_root_is_refused_as_a_login():
    assert one_row_problem("root;A;B;;;;") == ["users.csv:2:login: 'root' is not allowed"]


def test_second_occurrence_of_a_login_names_the_first_line():
    _, problems = load_users(HEADER + "bob;A;B;;;;\nalice;A;B;;;;\nbob;C;D;;;;\n")
    assert problems == ["users.csv:4:login: 'bob' duplicates line 2"]


def test_groups_are_split_on_spaces_and_repeats_are_ignored():
    users, problems = load_users(HEADER + "alice;A;B;  dev compta   dev ;;;\n")
    assert problems == []
    assert users[0].groups == ("dev", "compta")


def test_empty_groups_mean_no_supplementary_group():
    users, _ = load_users(HEADER + "alice;A;B;;;;\n")
    assert users[0].groups == ()


@pytest.mark.parametrize("groups, bad", [("Compta", "Compta"), ("dev a,b", "a,b"), ("dev|x", "dev|x"),
                                         ("dev\tops", "dev\tops")])
def test_invalid_group_names_are_refused(groups, bad):
    assert one_row_problem(f"alice;A;B;{groups};;;") == [
        f"users.csv:2:groups: {pu.shown(bad)} does not match {NAME_PATTERN}"]


def test_root_is_refused_as_a_group():
    assert one_row_problem("alice;A;B;dev root;;;") == ["users.csv:2:groups: 'root' is not allowed"]


# ---- first and last names ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Élodie", "Zoë", "José María", "Jean-Luc", "O'Brien", "O\u2019Brien",
                                  "St. John", "Дмитрий", "Γιάννης", "Nguyễn", "李", "E\u0301lodie",
                                  "A" * 64])
def test_letters_of_any_script_and_accents_are_allowed_in_names(name):
    assert one_row_problem(f"alice;{name};{name};;;;") == []


@pytest.mark.parametrize("char", [":", ",", "$", "`", "|", "&", "<", ">", "\\", "/", "(", ")", "*", "?",
                                  "!", "#", "=", "1", "_", "@", "\t", "\x1b", "\u00a0"])
def test_separators_controls_digits_and_shell_metacharacters_are_refused_in_names(char):
    assert one_row_problem(f"alice;Al{char}ice;Martin;;;;") == [
        f"users.csv:2:first_name: character {pu.describe_char(char)} is not allowed"]


@pytest.mark.parametrize("char, shown", [("$", "'$'"), ("\t", "U+0009"), ("\u00a0", "U+00A0"),
                                         ("€", "'€' (U+20AC)")])
def test_characters_are_shown_as_text_or_code_point(char, shown):
    assert pu.describe_char(char) == shown


def test_a_quoted_semicolon_is_refused_in_a_name():
    assert one_row_problem('alice;"Al;ice";Martin;;;;') == [
        "users.csv:2:first_name: character ';' is not allowed"]


def test_a_quote_is_refused_in_a_name():
    assert one_row_problem('alice;"Al""ice";Martin;;;;') == [
        "users.csv:2:first_name: character '\"' is not allowed"]


@pytest.mark.parametrize("name", ["-Alice", "'Alice", ".Alice", "\u0301Alice", '" Alice"'])
def test_names_must_start_with_a_letter(name):
    assert one_row_problem(f"alice;A;{name};;;;") == ["users.csv:2:last_name: must start with a letter"]


def test_empty_name_is_refused():
    assert one_row_problem("alice;;Martin;;;;") == ["users.csv:2:first_name: must not be empty"]


def test_name_longer_than_64_characters_is_refused():
    assert one_row_problem(f"alice;{'a' * 65};Martin;;;;") == [
        "users.csv:2:first_name: is 65 characters long, at most 64 allowed"]


def test_gecos_is_first_name_space_last_name():
    users, _ = load_users(HEADER + "alice;Élodie;Lefèvre;;;;\n")
    assert users[0].gecos == "Élodie Lefèvre"


# ---- shell and state -----------------------------------------------------------------------------------
def test_empty_shell_means_bin_bash():
    users, _ = load_users(HEADER + "alice;A;B;;;;\n")
    assert users[0].shell == "/bin/bash"


@pytest.mark.parametrize("shell", ["bash", "/bin/ba sh", "/bin/ba$h", "/bin/sh;id", "/bin/`id`", "/"])
def test_shell_must_be_an_absolute_path_of_safe_characters(shell):
    quoted = f'"{shell}"' if ";" in shell else shell
    assert one_row_problem(f"alice;A;B;;{quoted};;") == [
        f"users.csv:2:shell: {pu.shown(shell)} does not match ^/[A-Za-z0-9._/+-]+$"]


@pytest.mark.parametrize("state, expected", [("", "present"), ("present", "present"), ("absent", "absent")])
def test_state_is_present_by_default_or_absent(state, expected):
    users, _ = load_users(HEADER + f"alice;A;B;;;;{state}\n")
    assert users[0].state == expected


@pytest.mark.parametrize("state", ["Present", "ABSENT", "gone", "present&", "deleted"])
def test_other_states_are_refused(state):
    assert one_row_problem(f"alice;A;B;;;;{state}") == [
        f"users.csv:2:state: '{state}' must be 'present' or 'absent'"]


# ---- ssh keys ------------------------------------------------------------------------------------------
SK_ED25519 = key("sk-ssh-ed25519@openssh.com", ssh_string(b"k" * 32) + ssh_string(b"ssh:"))
SK_ECDSA = key("sk-ecdsa-sha2-nistp256@openssh.com",
               ssh_string(b"nistp256") + ssh_string(b"\x04" * 65) + ssh_string(b"ssh:"))


@pytest.mark.parametrize("value", [ed25519(), ed25519(comment=""), ecdsa(256), ecdsa(384), ecdsa(521),
                                   rsa(2048), rsa(4096), ed25519("alice laptop 2026/01 a.b_c@d+e=f-g"),
                                   SK_ED25519, SK_ECDSA])
def test_well_formed_keys_are_accepted(value):
    assert pu.check_ssh_key(value) is None


def test_rsa_key_of_1024_bits_is_refused():
    assert pu.check_ssh_key(rsa(1024)) == "decoded key is 151 bytes, ssh-rsa needs at least 279 (2048 bits)"


def test_rsa_key_of_exactly_2048_bits_decodes_to_279_bytes():
    assert len(base64.b64decode(rsa(2048).split()[1])) == 279


@pytest.mark.parametrize("value, size", [
    (key("ssh-ed25519", ssh_string(b"\x11" * 31)), 50),
    (key("ssh-ed25519", ssh_string(b"\x11" * 33)), 52),
    (key("ecdsa-sha2-nistp256", ssh_string(b"nistp256") + ssh_string(b"\x04" * 97)), 136),
])
def test_keys_of_the_wrong_decoded_length_are_refused(value, size):
    assert pu.check_ssh_key(value).startswith(f"decoded key is {size} bytes, ")
    assert "needs exactly" in pu.check_ssh_key(value)


def test_key_whose_data_is_of_another_type_is_refused():
    value = "ssh-rsa " + ed25519().split()[1]
    assert pu.check_ssh_key(value) == "decoded key does not start with its type 'ssh-rsa'"


@pytest.mark.parametrize("data", ["AAAA!!!", "AAAAC3NzaC1lZDI1NTE5AAAAI", "AAAA C3Nz", "é", "AAAAC3Nz==",
                                  "AAAAC3NzaC1lZDI1NTE5AAAAIM"])
def test_key_data_that_is_not_valid_base64_is_refused(data):
    assert pu.check_ssh_key(f"ssh-ed25519 {data}") in {
        "key data is not valid base64", "decoded key does not start with its type 'ssh-ed25519'"}


def test_unpadded_base64_is_refused():
    data = ecdsa(256).split()[1]
    assert data.endswith("=")
    assert pu.check_ssh_key(f"ecdsa-sha2-nistp256 {data.rstrip('=')}") == "key data is not valid base64"


@pytest.mark.parametrize("value", ["ssh-dss AAAAB3NzaC1kc3MAAACBA", "from=10.0.0.1 " + ed25519(),
                                   "no-pty " + ed25519(), "SSH-ED25519 AAAA"])
def test_unknown_key_types_and_options_prefixes_are_refused(value):
    assert pu.check_ssh_key(value).startswith("unknown key type")


def test_key_without_data_is_refused():
    assert pu.check_ssh_key("ssh-ed25519") == "expected 'TYPE BASE64 [COMMENT]'"


def test_key_comment_longer_than_100_characters_is_refused():
    assert pu.check_ssh_key(ed25519("c" * 101)) == "comment is longer than 100 characters"
    assert pu.check_ssh_key(ed25519("c" * 100)) is None


@pytest.mark.parametrize("char", ["$", "`", "(", ";", "|", "&", "'", "\\", "é", "\t", "*"])
def test_key_comment_characters_outside_the_allowed_set_are_refused(char):
    expected = f"character {pu.describe_char(char)} is not allowed in the comment"
    assert pu.check_ssh_key(ed25519(f"me{char}pc")) == expected


def test_key_problems_are_reported_on_the_ssh_key_field():
    problems = one_row_problem(f"alice;A;B;;;{rsa(1024)};")
    assert problems[0].startswith("users.csv:2:ssh_key: decoded key is 151 bytes")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")
@pytest.mark.parametrize("args, accepted", [(["-t", "ed25519"], True), (["-t", "ecdsa", "-b", "256"], True),
                                            (["-t", "ecdsa", "-b", "384"], True),
                                            (["-t", "ecdsa", "-b", "521"], True),
                                            (["-t", "rsa", "-b", "2048"], True),
                                            (["-t", "rsa", "-b", "1024"], False)])
def test_keys_made_by_ssh_keygen_are_judged_like_the_spec_says(tmp_path, args, accepted):
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", "alice@pc", "-f", str(tmp_path / "k"), *args],
                   check=True, capture_output=True)
    value = (tmp_path / "k.pub").read_text().strip()
    assert (pu.check_ssh_key(value) is None) is accepted


# ---- every problem, nothing half-valid ---------------------------------------------------------------
def test_every_problem_of_the_file_is_reported_in_line_order():
    _, problems = load_users(HEADER + "Alice;A;B;;;;\nbob;B$;C;;;;\ncarol;C;D;;sh;;gone\n")
    assert problems == [
        f"users.csv:2:login: 'Alice' does not match {NAME_PATTERN}",
        "users.csv:3:first_name: character '$' is not allowed",
        "users.csv:4:state: 'gone' must be 'present' or 'absent'",
        f"users.csv:4:shell: 'sh' does not match {'^/[A-Za-z0-9._/+-]+$'}",
    ]


def test_every_bad_group_name_of_a_row_is_reported():
    assert one_row_problem("alice;A;B;Dev ops root A-b;;;") == [
        f"users.csv:2:groups: 'Dev' does not match {NAME_PATTERN}",
        "users.csv:2:groups: 'root' is not allowed",
        f"users.csv:2:groups: 'A-b' does not match {NAME_PATTERN}"]


def test_a_row_with_a_problem_is_not_returned_as_a_user():
    users, _ = load_users(HEADER + "alice;A;B;;;;\nbob;B$;C;;;;\n")
    assert [u.login for u in users] == ["alice"]


def test_example_line_from_the_spec_reads_as_expected():
    users, problems = load_users(HEADER + f"alice;Alice;Martin;compta dev;;{ed25519()};\n")
    assert problems == []
    assert users[0] == pu.User(2, "alice", "Alice", "Martin", ("compta", "dev"), "/bin/bash", ed25519(),
                               "present")


# ---- checks against the host ---------------------------------------------------------------------------
def host_state(**overrides) -> "pu.HostState":
    state = pu.HostState(
        os_family="debian",
        users={
            "root": pu.Account("root", 0, 0, "root", "/root", "/bin/bash"),
            "daemon": pu.Account("daemon", 1, 1, "daemon", "/usr/sbin", "/usr/sbin/nologin"),
            "nobody": pu.Account("nobody", 65534, 65534, "nobody", "/nonexistent", "/usr/sbin/nologin"),
            "bob": pu.Account("bob", 1001, 1001, "Bob Durand", "/home/bob", "/bin/bash"),
        },
        shadow={"bob": pu.ShadowEntry("$y$j9T$abc$def", "")},
        groups={
            "root": pu.Group("root", 0),
            "sudo": pu.Group("sudo", 27),
            "toor": pu.Group("toor", 0),
            "bob": pu.Group("bob", 1001),
            "dev": pu.Group("dev", 1002, ("bob", "zed")),
            "spare": pu.Group("spare", 1500),
        },
        shells=frozenset({"/bin/sh", "/bin/bash", "/usr/bin/bash"}),
        today=20000,
        created_groups=frozenset({("bob", 1001), ("dev", 1002), ("spare", 1500)}),
    )
    for name, value in overrides.items():
        setattr(state, name, value)
    return state


def host_problems(csv_rows: str, host=None) -> list[str]:
    records, problems = parse(HEADER + csv_rows)
    assert problems == []
    return messages(pu.validate_against_host(records, host or host_state(), "users.csv"))


@pytest.mark.parametrize("login, uid", [("daemon", 1), ("nobody", 65534)])
def test_existing_accounts_outside_the_uid_range_are_refused(login, uid):
    assert host_problems(f"{login};A;B;;;;absent\n") == [
        f"users.csv:2:login: '{login}' exists with UID {uid}, outside the managed range 1000-60000"]


def test_new_login_named_like_a_system_group_is_refused():
    assert host_problems("sudo;A;B;;;;\n") == [
        "users.csv:2:login: 'sudo' is the name of an existing group with GID 27, outside 1000-60000"]


def test_new_login_named_like_a_group_this_script_created_is_allowed():
    assert host_problems("spare;A;B;;;;\n") == []


def test_new_login_named_like_a_group_this_script_did_not_create_is_refused_unless_allowed():
    host = host_state(groups={**host_state().groups, "ops": pu.Group("ops", 1600)})
    message = ("users.csv:2:login: 'ops' is the name of a group (GID 1600) not created by provision-users: "
               "refused unless allowed with --allow-group ops")
    assert host_problems("ops;A;B;;;;\n", host) == [message]
    # Recorded with another GID: the group was made again by someone else.
    host.created_groups = frozenset({("ops", 1601)})
    assert host_problems("ops;A;B;;;;\n", host) == [message]
    records, _ = parse(HEADER + "ops;A;B;;;;\n")
    assert pu.validate_against_host(records, host, "users.csv", frozenset({"ops"})) == []


@pytest.mark.parametrize("login", ["docker", "lxd", "wheel", "adm"])
def test_new_login_named_like_a_privileged_group_is_refused_even_when_the_group_does_not_exist(login):
    assert host_problems(f"{login};A;B;;;;\n") == [
        f"users.csv:2:login: '{login}' is the name of a privileged group: refused unless allowed with "
        f"--allow-group {login}"]


def allowed_problems(csv_rows: str, allowed: set[str], host=None) -> list[str]:
    records, problems = parse(HEADER + csv_rows)
    assert problems == []
    return messages(pu.validate_against_host(records, host or host_state(), "users.csv", frozenset(allowed)))


@pytest.mark.parametrize("group", sorted(pu.PRIVILEGED_GROUPS - {"root"}))
def test_every_privileged_group_is_refused_whether_it_exists_or_not(group):
    expected = [f"users.csv:2:groups: '{group}' is a privileged group: refused unless allowed with "
                f"--allow-group {group}"]
    assert host_problems(f"alice;A;B;{group};;;\n") == expected
    host = host_state(groups={**host_state().groups, group: pu.Group(group, 1700)})   # even in range
    assert host_problems(f"alice;A;B;{group};;;\n", host) == expected
    assert allowed_problems(f"alice;A;B;{group};;;\n", {group}, host) == []


def test_system_group_is_refused_unless_allowed_and_users_is_ordinary():
    host = host_state(groups={**host_state().groups, "audio": pu.Group("audio", 29),
                              "users": pu.Group("users", 100), "nogroup": pu.Group("nogroup", 65534)})
    assert host_problems("alice;A;B;audio users nogroup;;;\n", host) == [
        "users.csv:2:groups: 'audio' is a system group (GID 29): refused unless allowed with "
        "--allow-group audio",
        "users.csv:2:groups: 'nogroup' is a system group (GID 65534): refused unless allowed with "
        "--allow-group nogroup"]
    assert allowed_problems("alice;A;B;audio users nogroup;;;\n", {"audio", "nogroup"}, host) == []


def test_group_in_range_not_created_by_this_script_is_refused_unless_allowed():
    host = host_state(groups={**host_state().groups, "ops": pu.Group("ops", 1600)})
    assert host_problems("alice;A;B;dev ops ops;;;\n", host) == [
        "users.csv:2:groups: 'ops' (GID 1600) was not created by provision-users: refused unless allowed "
        "with --allow-group ops"]
    assert allowed_problems("alice;A;B;dev ops;;;\n", {"ops"}, host) == []


def test_allowing_a_group_never_allows_gid_0():
    assert allowed_problems("alice;A;B;toor;;;\n", {"toor"}) == ["users.csv:2:groups: group 'toor' has GID 0"]


@pytest.mark.parametrize("primary", [False, True])
def test_an_account_in_a_privileged_group_may_not_be_managed_unless_that_group_is_allowed(primary):
    groups = {**host_state().groups, "sudo": pu.Group("sudo", 27, () if primary else ("bob",))}
    users = {**host_state().users, "bob": pu.Account("bob", 1001, 27 if primary else 1001, "Bob Durand",
                                                       "/home/bob", "/bin/bash")}
    host = host_state(groups=groups, users=users)
    for state in ("present", "absent"):
        assert host_problems(f"bob;Bob;Durand;;;;{state}\n", host) == [
            "users.csv:2:login: 'bob' is a member of the privileged group 'sudo': refused unless allowed "
            "with --allow-group sudo"]
    assert allowed_problems("bob;Bob;Durand;;;;\n", {"sudo"}, host) == []


@pytest.mark.parametrize("right, message", [
    ("may", "'bob' may run commands through sudo and was not created by provision-users: refused (manage "
            "this account by hand)"),
    ("unknown", "'bob': sudo -l -U bob failed, so whether sudo trusts this account is unknown: refused")])
def test_an_account_sudo_trusts_is_refused_and_allowing_a_harmless_group_changes_nothing(right, message):
    host = host_state(sudo_rights={"bob": right})
    assert host_problems("bob;Bob;Durand;dev;;;\n", host) == [f"users.csv:2:login: {message}"]
    assert allowed_problems("bob;Bob;Durand;dev;;;\n", {"dev"}, host) == [f"users.csv:2:login: {message}"]


def test_a_member_of_an_allowed_privileged_group_is_managed_whatever_sudo_says():
    groups = {**host_state().groups, "sudo": pu.Group("sudo", 27, ("bob",))}
    host = host_state(groups=groups, sudo_rights={"bob": "may"})
    assert allowed_problems("bob;Bob;Durand;sudo;;;\n", {"sudo"}, host) == []


def test_sudo_is_asked_only_about_existing_accounts_this_script_did_not_create(monkeypatch):
    asked = []
    monkeypatch.setattr(pu.shutil, "which", lambda name, path=None: "/usr/bin/sudo")
    monkeypatch.setattr(pu.subprocess, "run", lambda argv, **kw: asked.append(argv[-1]) or
                        subprocess.CompletedProcess(argv, 0, b"User x may run the following commands", b""))
    old = pu.Account("old", 1700, 1700, "O", "/home/old", "/bin/sh")
    host = host_state(users={**host_state().users, "old": old})
    records, _ = parse(HEADER + "bob;B;D;;;;\nold;O;L;;;;\nnew;N;W;;;;\ndaemon;D;M;;;;\n")
    assert pu.read_sudo_rights(records, host) == {"old": "may"}
    # bob's own group (bob, 1001) is recorded; new does not exist; daemon is a system account.
    assert asked == ["old"]


def test_an_account_whose_group_has_gid_0_may_never_be_managed():
    groups = {**host_state().groups, "toor": pu.Group("toor", 0, ("bob",))}
    host = host_state(groups=groups)
    assert allowed_problems("bob;Bob;Durand;;;;\n", {"toor"}, host) == []   # allowed: no longer privileged
    assert host_problems("bob;Bob;Durand;;;;\n", host) == [
        "users.csv:2:login: 'bob' is a member of the privileged group 'toor': refused unless allowed with "
        "--allow-group toor"]


def test_new_login_whose_home_exists_is_refused():
    host = host_state(existing_homes=frozenset({"/home/alice"}))
    assert host_problems("alice;A;B;;;;\n", host) == [
        "users.csv:2:login: home directory /home/alice already exists"]


def test_listed_group_with_gid_0_is_refused_once():
    assert host_problems("alice;A;B;dev toor toor;;;\n") == ["users.csv:2:groups: group 'toor' has GID 0"]


def test_shell_not_in_etc_shells_is_refused_for_a_present_row():
    assert host_problems("alice;A;B;;/bin/zsh;;\n") == [
        "users.csv:2:shell: '/bin/zsh' is not listed in /etc/shells"]


def test_shell_of_an_absent_row_is_not_checked_against_etc_shells():
    assert host_problems("bob;A;B;;/bin/zsh;;absent\n") == []


def test_host_checks_also_run_on_rows_with_other_problems():
    assert host_problems("daemon;B$;C;toor Bad;/bin/zsh;;gone\nAlice;A;B;toor;/bin/zsh;;\n") == [
        "users.csv:2:groups: group 'toor' has GID 0",
        "users.csv:2:shell: '/bin/zsh' is not listed in /etc/shells",
        "users.csv:2:login: 'daemon' exists with UID 1, outside the managed range 1000-60000",
        "users.csv:3:groups: group 'toor' has GID 0",
        "users.csv:3:shell: '/bin/zsh' is not listed in /etc/shells",
    ]


def test_host_checks_skip_the_second_line_of_a_duplicate_login():
    assert host_problems("sudo;A;B;;;;absent\nsudo;A;B;;;;\n") == []


def test_refused_ssh_directory_is_reported_on_the_ssh_key_field():
    host = host_state(keys={"bob": pu.KeyState(problem="/home/bob/.ssh is a symbolic link: refused")})
    assert host_problems(f"bob;Bob;Durand;;;{ed25519()};\n", host) == [
        "users.csv:2:ssh_key: /home/bob/.ssh is a symbolic link: refused"]


@pytest.mark.parametrize("os_release, family", [
    ({"ID": "debian"}, "debian"), ({"ID": "ubuntu", "ID_LIKE": "debian"}, "debian"),
    ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, "redhat"), ({"ID": "fedora"}, "redhat"),
    ({"ID": "almalinux", "ID_LIKE": "rhel centos fedora"}, "redhat"),
    ({"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}, "debian"),
    ({"ID": "arch"}, None), ({"ID": "opensuse-leap", "ID_LIKE": "suse opensuse"}, None), ({}, None)])
def test_os_family_comes_from_id_then_id_like(os_release, family):
    assert pu.os_family(os_release) == family


def test_os_release_values_lose_their_quotes():
    text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n# comment\nID_LIKE=\'rhel fedora\'\n'
    assert pu.parse_os_release(text) == {"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "ID": "debian",
                                         "ID_LIKE": "rhel fedora"}


# ---- reading a host (a fake root under tmp_path) -------------------------------------------------------
def fake_root(tmp_path: Path, uid: int = 1001, gid: int = 1001) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "os-release").write_text('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n')
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                f"bob:x:{uid}:{gid}:Bob Durand:/home/bob:/bin/bash\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\nbob:!$6$salt$hash:19000:0:99999:7::1:\n")
    (etc / "group").write_text("root:x:0:\ndev:x:1002:bob,zed\n")
    (etc / "shells").write_text("# /etc/shells\n/bin/sh\n/bin/bash\n")
    (tmp_path / "home" / "bob").mkdir(parents=True)
    (tmp_path / "home" / "alice").mkdir()
    return tmp_path


def test_host_state_is_read_from_etc_files(tmp_path):
    records, _ = parse(HEADER + "alice;A;B;;;;\nbob;Bob;Durand;;;;\n")
    host = pu.read_host_state(records, fake_root(tmp_path))
    assert host.os_family == "redhat"
    assert host.users["bob"].gecos == "Bob Durand"
    assert host.shadow["bob"] == pu.ShadowEntry("!$6$salt$hash", "1")
    assert host.groups["dev"].members == ("bob", "zed")
    assert host.shells == frozenset({"/bin/sh", "/bin/bash"})
    assert host.existing_homes == frozenset({"/home/alice"})


def root_with_bob_s_own_home(tmp_path: Path) -> Path:
    """fake_root where bob owns his home (bob is UID 1001 when the tests run as root, else the tester)."""
    uid, gid = (1001, 1001) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    root = fake_root(tmp_path, uid, gid)
    if os.geteuid() == 0:
        os.chown(root / "home" / "bob", uid, gid)
    return root


def test_symlinked_ssh_directory_is_seen_as_a_problem(tmp_path):
    root = root_with_bob_s_own_home(tmp_path)
    (root / "elsewhere").mkdir()
    (root / "home" / "bob" / ".ssh").symlink_to(root / "elsewhere")
    records, _ = parse(HEADER + f"bob;Bob;Durand;;;{ed25519()};\n")
    host = pu.read_host_state(records, root)
    assert host.keys["bob"].problem == f"{root}/home/bob/.ssh is a symbolic link: refused"


def test_symlinked_authorized_keys_is_seen_as_a_problem(tmp_path):
    root = root_with_bob_s_own_home(tmp_path)
    ssh = root / "home" / "bob" / ".ssh"
    ssh.mkdir(mode=0o700)
    os.chown(ssh, *(root / "home" / "bob").stat()[4:6])
    (ssh / "authorized_keys").symlink_to(root / "etc" / "shadow")
    records, _ = parse(HEADER + f"bob;Bob;Durand;;;{ed25519()};\n")
    host = pu.read_host_state(records, root)
    assert host.keys["bob"].problem == f"{ssh}/authorized_keys is a symbolic link: refused"


def test_authorized_keys_in_place_with_the_right_modes_needs_no_change(tmp_path):
    home = tmp_path / "bob"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh").chmod(0o700)
    (home / ".ssh" / "authorized_keys").write_text(ed25519() + "\n")
    (home / ".ssh" / "authorized_keys").chmod(0o600)
    state = pu.read_key_state(home, os.getuid())
    assert state == pu.KeyState(ssh_dir_ok=True, content=(ed25519() + "\n").encode(), file_ok=True)
    assert not pu.key_needs_writing(ed25519(), state)
    assert pu.key_needs_writing(ed25519() + " ", state)
    (home / ".ssh" / "authorized_keys").chmod(0o644)
    assert pu.key_needs_writing(ed25519(), pu.read_key_state(home, os.getuid()))


def test_home_or_ssh_folder_the_user_does_not_own_is_a_key_problem(tmp_path):
    """The key is written as the user: a home or ~/.ssh of someone else is refused, never handed over."""
    home = tmp_path / "bob"
    (home / ".ssh").mkdir(parents=True)
    other = os.getuid() + 1
    assert pu.read_key_state(home, other, "bob").problem == (
        f"home directory {home} is owned by UID {os.getuid()}, not by 'bob': refused")
    if os.geteuid() == 0:                      # chown needs root: the home is bob's, ~/.ssh is not
        os.chown(home, other, -1)
        assert pu.read_key_state(home, other, "bob").problem == (
            f"{home}/.ssh is owned by UID {os.getuid()}, not by 'bob': refused")


def test_missing_home_of_an_existing_user_is_a_key_problem(tmp_path):
    assert pu.read_key_state(tmp_path / "nope", 1001).problem == (
        f"home directory {tmp_path}/nope does not exist")


# ---- the plan ------------------------------------------------------------------------------------------
def make_plan(csv_rows: str, host=None) -> "pu.Plan":
    users, problems = load_users(HEADER + csv_rows)
    assert problems == []
    return pu.plan(users, host or host_state())


def test_new_user_is_planned_and_missing_groups_are_created():
    result = make_plan("alice;Alice;Martin;dev compta;;;\n")
    assert [u.login for u in result.create_users] == ["alice"]
    assert result.create_groups == ["compta"]
    assert result.set_members == {"dev": ["bob", "zed", "alice"], "compta": ["alice"]}
    assert result.changed == 2


def test_group_named_like_a_new_user_is_left_to_newusers():
    result = make_plan("alice;A;B;carol;;;\ncarol;C;D;;;;\n")
    assert result.create_groups == []
    assert result.set_members == {"carol": ["alice"]}


def test_new_user_named_like_a_group_in_range_gets_that_group():
    assert make_plan("spare;A;B;;;;\n").create_users[0].gid == 1500


def test_user_already_in_line_is_unchanged():
    result = make_plan("bob;Bob;Durand;dev;;;\n")
    assert result.changed == 0
    assert result.unchanged == ["bob"]
    assert result.set_members == {}


def test_group_order_in_the_file_and_in_etc_group_does_not_matter():
    host = host_state(groups={**host_state().groups, "dev": pu.Group("dev", 1002, ("zed", "bob")),
                              "ops": pu.Group("ops", 1003, ("bob",))})
    assert make_plan("bob;Bob;Durand;ops dev;;;\n", host).changed == 0
    assert make_plan("bob;Bob;Durand;dev ops dev;;;\n", host).changed == 0


def test_user_is_removed_from_groups_not_listed_and_other_members_are_kept():
    result = make_plan("bob;Bob;Durand;;;;\n")
    assert [c.login for c in result.update_users] == ["bob"]
    assert result.update_users[0].groups_removed == ["dev"]
    assert result.set_members == {"dev": ["zed"]}


def test_absent_users_keep_their_groups():
    result = make_plan("bob;Bob;Durand;;;;absent\n")
    assert result.set_members == {}


def test_gecos_and_shell_differences_become_one_usermod():
    result = make_plan("bob;Robert;Durand;dev;/bin/sh;;\n")
    assert result.update_users[0].usermod == ["-c", "Robert Durand", "-s", "/bin/sh"]


@pytest.mark.parametrize("family, nologin", [("debian", "/usr/sbin/nologin"), ("redhat", "/sbin/nologin")])
def test_absent_user_is_locked_expired_and_given_the_family_nologin(family, nologin):
    result = make_plan("bob;Bob;Durand;;;;absent\n", host_state(os_family=family))
    assert [c.login for c in result.disable_users] == ["bob"]
    assert result.disable_users[0].usermod == ["-L", "-e", "1", "-s", nologin]


def test_absent_user_already_disabled_is_unchanged():
    host = host_state(shadow={"bob": pu.ShadowEntry("!$y$j9T$abc$def", "1")})
    host.users["bob"] = pu.Account("bob", 1001, 1001, "Bob Durand", "/home/bob", "/usr/sbin/nologin")
    result = make_plan("bob;Bob;Durand;;;;absent\n", host)
    assert result.changed == 0
    assert result.unchanged == ["bob"]


def test_absent_user_half_disabled_gets_only_what_is_missing():
    host = host_state(shadow={"bob": pu.ShadowEntry("!$y$j9T$abc$def", "")})
    assert make_plan("bob;Bob;Durand;;;;absent\n", host).disable_users[0].usermod == [
        "-e", "1", "-s", "/usr/sbin/nologin"]


def test_absent_login_that_does_not_exist_is_unchanged():
    result = make_plan("ghost;G;H;;;;absent\n")
    assert result.changed == 0
    assert result.unchanged == ["ghost"]


def test_locked_user_with_a_hash_left_is_unlocked():
    host = host_state(shadow={"bob": pu.ShadowEntry("!$y$j9T$abc$def", "")})
    change = make_plan("bob;Bob;Durand;dev;;;\n", host).update_users[0]
    assert change.usermod == ["-U"]
    assert not change.new_password


@pytest.mark.parametrize("password", ["!", "!!", "!*", "", "!$y$j9T$abc$def"])
def test_locked_user_without_a_usable_password_gets_a_new_one(password):
    host = host_state(shadow={"bob": pu.ShadowEntry("!" + password, "")})
    result = make_plan("bob;Bob;Durand;dev;;;\n", host)
    assert result.update_users[0].new_password
    assert result.needs_passwords


def test_expired_user_is_unexpired_but_a_future_expiry_is_kept():
    expired = host_state(shadow={"bob": pu.ShadowEntry("$y$j9T$abc$def", "1")})
    assert make_plan("bob;Bob;Durand;dev;;;\n", expired).update_users[0].usermod == ["-e", ""]
    later = host_state(shadow={"bob": pu.ShadowEntry("$y$j9T$abc$def", "30000")})
    assert make_plan("bob;Bob;Durand;dev;;;\n", later).changed == 0


def test_same_key_with_right_modes_is_unchanged_and_a_different_key_is_written():
    same = pu.KeyState(ssh_dir_ok=True, content=(ed25519() + "\n").encode(), file_ok=True)
    assert make_plan(f"bob;Bob;Durand;dev;;{ed25519()};\n", host_state(keys={"bob": same})).changed == 0
    other = pu.KeyState(ssh_dir_ok=True, content=(ecdsa(256) + "\n").encode(), file_ok=True)
    change = make_plan(f"bob;Bob;Durand;dev;;{ed25519()};\n", host_state(keys={"bob": other})).update_users[0]
    assert change.ssh_key == ed25519()


def test_empty_ssh_key_leaves_authorized_keys_alone():
    other = pu.KeyState(ssh_dir_ok=False, content=b"whatever\n", file_ok=False)
    assert make_plan("bob;Bob;Durand;dev;;;\n", host_state(keys={"bob": other})).changed == 0


def test_changed_counts_users_created_updated_disabled_and_groups_created():
    result = make_plan("alice;A;B;ops;;;\nbob;Bob;Durand;;;;absent\nghost;G;H;;;;absent\n")
    assert (len(result.create_users), len(result.disable_users), result.create_groups) == (1, 1, ["ops"])
    assert result.changed == 3
    assert result.unchanged == ["ghost"]


# ---- applying, with a fake runner and a fake root -------------------------------------------------------
def test_apply_feeds_passwords_on_stdin_only_and_writes_the_password_file_first(tmp_path, monkeypatch):
    monkeypatch.setattr(pu.syslog, "syslog", lambda *args: None)
    root = fake_root(tmp_path, os.getuid(), os.getgid())
    (root / "etc" / "skel").mkdir()
    (root / "etc" / "skel" / ".bashrc").write_text("# skel\n")
    (root / "home" / "alice").rmdir()
    records, _ = parse(HEADER + f"alice;Élodie;Lefèvre;dev ops;;{ed25519()};\n")
    users, _ = pu.validate_rows(records, "users.csv")
    host = pu.read_host_state(records, root)
    the_plan = pu.plan(users, host)
    password_file = root / "secret" / "passwords.csv"
    calls = []

    def runner(argv, stdin):
        calls.append((list(argv), stdin))
        if argv[0] == "newusers":
            assert password_file.exists()  # written before any account exists
            login, password, _, _, gecos, home, shell = stdin.decode().strip().split(":")
            with (root / "etc" / "passwd").open("a") as handle:
                handle.write(f"{login}:x:{os.getuid()}:{os.getgid()}:{gecos}:{home}:{shell}\n")
            with (root / "etc" / "group").open("a") as handle:
                handle.write(f"{login}:x:2001:\n")
            (root / home.lstrip("/")).mkdir()
        elif argv[0] == "groupadd":
            with (root / "etc" / "group").open("a") as handle:
                handle.write(f"{argv[1]}:x:2002:\n")

    done = pu.apply(the_plan, host, password_file, runner=runner, root=root)
    assert done.created == ["alice"] and done.groups_created == ["ops"]
    lines = password_file.read_text().splitlines()
    assert lines[0] == "login;password" and lines[1].startswith("alice;")
    password = lines[1].split(";")[1]
    assert len(password) == 20 and password.isalnum()
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(password_file.parent.stat().st_mode) == 0o700
    assert all(password not in " ".join(argv) for argv, _ in calls)
    assert [argv for argv, _ in calls] == [["newusers"], ["chage", "-d", "0", "alice"], ["groupadd", "ops"],
                                          ["gpasswd", "-M", "bob,zed,alice", "dev"],
                                          ["gpasswd", "-M", "alice", "ops"]]
    assert calls[0][1] == f"alice:{password}:::Élodie Lefèvre:/home/alice:/bin/bash\n".encode()
    record = root / "var" / "lib" / "tssr-kit" / "users" / "created-groups"
    assert record.read_text() == "alice:2001\nops:2002\n"      # the groups this run made, with their GIDs
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    home = root / "home" / "alice"
    assert (home / ".bashrc").read_text() == "# skel\n"
    assert (home / ".ssh" / "authorized_keys").read_text() == ed25519() + "\n"
    assert stat.S_IMODE((home / ".ssh").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / ".ssh" / "authorized_keys").stat().st_mode) == 0o600


def test_write_authorized_keys_refuses_a_symlinked_ssh_directory(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".ssh").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(pu.CommandError):
        pu.write_authorized_keys(str(tmp_path / "home"), os.getuid(), os.getgid(), b"key\n")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_write_authorized_keys_replaces_a_symlinked_file_without_following_it(tmp_path):
    (tmp_path / "target").write_text("do not touch\n")
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "authorized_keys").symlink_to(tmp_path / "target")
    with pytest.raises(pu.CommandError):
        pu.write_authorized_keys(str(tmp_path / "home"), os.getuid(), os.getgid(), b"key\n")
    assert (tmp_path / "target").read_text() == "do not touch\n"


# ---- the command line ----------------------------------------------------------------------------------
def test_header_documents_usage_examples_exit_codes_changes_and_os_families():
    doc = pu.__doc__
    for part in ("Usage:", "Examples:", "Exit codes:", "What it changes:", "Supported OS families:"):
        assert part in doc
    assert doc.count("sudo python3 provision_users.py") >= 2
    for code in ("0  success", "1  runtime failure", "2  usage or validation error", "3  another run"):
        assert code in doc


def test_help_prints_the_header(capsys):
    with pytest.raises(SystemExit) as exit_info:
        pu.main(["--help"])
    assert exit_info.value.code == 0
    assert "Exit codes:" in capsys.readouterr().out


def test_missing_csv_argument_is_exit_2_with_a_failed_json_result(capsys):
    assert pu.main([]) == 2
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["script"] == "provision-users" and result["impl"] == "python"
    assert result["status"] == "failed" and result["changed"] == 0 and result["errors"] == 1


def test_running_without_root_is_exit_2_dry_run_included(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pu.os, "geteuid", lambda: 1000)  # an ordinary account, even when tests run as root
    csv_file = tmp_path / "users.csv"
    csv_file.write_text(HEADER)
    assert pu.main(["--dry-run", str(csv_file)]) == 2
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["status"] == "failed" and "root" in result["error"]


# ---- the password file -----------------------------------------------------------------------------------
def test_default_password_file_is_named_by_the_utc_time():
    path, reason = pu.choose_password_file(None, "20261128T101500Z")
    assert reason is None
    assert str(path).endswith("/passwords-20261128T101500Z.csv")


def test_given_password_file_that_exists_is_refused(tmp_path):
    (tmp_path / "pw.csv").write_text("login;password\n")
    tmp_path.chmod(0o700)
    _, reason = pu.choose_password_file(str(tmp_path / "pw.csv"), "x")
    assert reason == f"--password-file {tmp_path}/pw.csv already exists: refusing to overwrite it"


def test_given_password_file_in_a_folder_others_can_read_is_refused(tmp_path):
    tmp_path.chmod(0o755)
    _, reason = pu.choose_password_file(str(tmp_path / "pw.csv"), "x")
    assert reason is not None and "must be owned by root with mode 0700" in reason


def test_given_password_file_in_a_private_or_missing_folder_is_accepted(tmp_path):
    tmp_path.chmod(0o700)
    assert pu.choose_password_file(str(tmp_path / "pw.csv"), "x") == (tmp_path / "pw.csv", None)
    assert pu.choose_password_file(str(tmp_path / "new" / "pw.csv"), "x")[1] is None


def test_two_keys_in_one_field_are_refused():
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM+9dDU32VDct8lZ4UoOCFPOCkZHLI3BdhNSvFxTudRl"
    assert pu.check_ssh_key(key) is None
    assert "one key per user" in pu.check_ssh_key(f"{key} {key}")
