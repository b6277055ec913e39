#!/usr/bin/env python3
"""Smoke test for tests/servers/mailserver (python3 stdlib only).

Usage: python3 tests/servers/smoke.py [DIR]   (servers must be running: mailserver start DIR)

DIR defaults to $AUTOSVAR_TEST_DIR, else /tmp/autosvar-mail; ports are read from DIR/env.
Checks: SMTP+STARTTLS send -> IMAPS read back; IMAP STARTTLS and SMTPS+AUTH; a client trusting
only other-ca.pem is refused; APPEND to Sent; an undeliverable recipient bounces into the
sender's INBOX as a DSN.
"""
import email
import email.policy
import imaplib
import os
import secrets
import smtplib
import socket
import ssl
import sys
import time

DEADLINE_S = 10.0
PASSWORD = "secret"


def load_env(d):
    env = {}
    with open(os.path.join(d, "env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                env[k] = v
    return env


def ctx_for(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx


def wait_for(fn, what, deadline_s=DEADLINE_S):
    """Poll fn() until it returns a truthy value; fail after deadline_s."""
    end = time.monotonic() + deadline_s
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(0.02)


def imaps(env, user, ctx):
    m = imaplib.IMAP4_SSL(env["AUTOSVAR_TEST_HOST"], int(env["AUTOSVAR_TEST_IMAPS_PORT"]),
                          ssl_context=ctx, timeout=10)
    m.login(user, PASSWORD)
    return m


def find(m, mailbox, header, value):
    """UIDs in mailbox whose header contains value (fresh SELECT each time)."""
    typ, _ = m.select(mailbox, readonly=True)
    assert typ == "OK", f"SELECT {mailbox}: {typ}"
    typ, data = m.uid("SEARCH", None, "HEADER", header, f'"{value}"')
    assert typ == "OK", typ
    return data[0].split()


def fetch(m, uid):
    typ, data = m.uid("FETCH", uid, "(BODY.PEEK[])")
    assert typ == "OK", typ
    return email.message_from_bytes(data[0][1], policy=email.policy.default)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AUTOSVAR_TEST_DIR", "/tmp/autosvar-mail")
    env = load_env(d)
    host = env["AUTOSVAR_TEST_HOST"]
    smtp_port = int(env["AUTOSVAR_TEST_SMTP_PORT"])
    smtps_port = int(env["AUTOSVAR_TEST_SMTPS_PORT"])
    imap_port = int(env["AUTOSVAR_TEST_IMAP_PORT"])
    ca = ctx_for(env["AUTOSVAR_TEST_CA"])
    other = ctx_for(env["AUTOSVAR_TEST_OTHER_CA"])
    tag = secrets.token_hex(4)
    rcpt = f"smoke-{tag}@example.test"
    sender = f"smoke-sender-{tag}@example.test"
    timings = {}
    checks = []

    def check(name):
        checks.append(name)
        print(f"ok   {name}")

    # (a) SMTP + STARTTLS (verified against ca.pem), no AUTH, to smoke-<tag>@example.test.
    # No Date header on purpose: Postfix must not add one (local_header_rewrite_clients empty).
    subject = f"smoke {tag}"
    msg = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{tag}@smoke.example.test>\r\n\r\nhello from smoke.py\r\n")
    t0 = time.monotonic()
    with smtplib.SMTP(host, smtp_port, timeout=10) as s:
        s.ehlo("smoke.example.test")
        assert s.has_extn("starttls"), "STARTTLS not offered"
        s.starttls(context=ca)
        s.ehlo("smoke.example.test")
        refused = s.sendmail(sender, [rcpt], msg.encode())
        assert not refused, refused
    t_sent = time.monotonic()
    check("SMTP STARTTLS send (cert verified against ca.pem)")

    # (b) read it back over IMAPS, polling to a deadline.
    m = imaps(env, rcpt, ca)
    uids = wait_for(lambda: find(m, "INBOX", "Message-ID", f"{tag}@smoke.example.test"), "delivery")
    timings["smtp accept -> visible over IMAPS"] = time.monotonic() - t_sent
    got = fetch(m, uids[0])
    assert got["Subject"] == subject, got["Subject"]
    assert got["Date"] is None, f"Postfix added a Date header: {got['Date']}"
    assert got["Delivered-To"] == rcpt, got["Delivered-To"]
    assert "hello from smoke.py" in got.get_content()
    check("IMAPS read back (no Date added, Delivered-To set)")

    # Special-use folders exist for every user.
    typ, lines = m.list()
    listing = b"\n".join(lines).decode()
    for flag, name in [("\\Sent", "Sent"), ("\\Drafts", "Drafts"), ("\\Trash", "Trash"),
                       ("\\Junk", "Junk"), ("\\Archive", "Archive")]:
        assert flag in listing and name in listing, listing
    check("special-use folders listed")

    # (d) APPEND to Sent.
    sent_msg = (f"From: {rcpt}\r\nTo: {sender}\r\nSubject: sent {tag}\r\n"
                f"Message-ID: <sent-{tag}@smoke.example.test>\r\n\r\nstored copy\r\n").encode()
    typ, data = m.append("Sent", "(\\Seen)", imaplib.Time2Internaldate(time.time()), sent_msg)
    assert typ == "OK", (typ, data)
    assert b"APPENDUID" in data[0], data  # UIDPLUS
    uids = find(m, "Sent", "Message-ID", f"sent-{tag}@smoke.example.test")
    assert len(uids) == 1, uids
    typ, data = m.uid("FETCH", uids[0], "(BODY.PEEK[])")
    assert data[0][1] == sent_msg, "APPEND -> FETCH not byte-identical"
    check("APPEND to Sent (byte-identical)")
    m.logout()

    # IMAP on the plain port with STARTTLS.
    m = imaplib.IMAP4(host, imap_port, timeout=10)
    assert "STARTTLS" in m.capabilities, m.capabilities
    m.starttls(ssl_context=ca)
    m.login(rcpt, PASSWORD)
    assert find(m, "INBOX", "Message-ID", f"{tag}@smoke.example.test")
    m.logout()
    check("IMAP STARTTLS login")

    # SMTPS (implicit TLS) with AUTH user/secret (Dovecot SASL), to a mixed-case +detail address.
    rcpt2 = f"Smoke-{tag}+detail@Example.TEST"
    with smtplib.SMTP_SSL(host, smtps_port, context=ca, timeout=10) as s:
        s.login(sender, PASSWORD)
        s.sendmail(sender, [rcpt2], (f"From: {sender}\r\nTo: {rcpt2}\r\nSubject: smtps {tag}\r\n"
                                     f"Message-ID: <smtps-{tag}@smoke.example.test>\r\n\r\nx\r\n"))
    m = imaps(env, rcpt, ca)
    wait_for(lambda: find(m, "INBOX", "Message-ID", f"smtps-{tag}@smoke.example.test"),
             "SMTPS delivery to the folded address")
    m.logout()
    check("SMTPS + AUTH, case and +detail folded to the same mailbox")

    # IDLE: a selected INBOX reports a new delivery (imaplib has no IDLE before 3.14: raw).
    m = imaps(env, rcpt, ca)
    m.select("INBOX")
    m.send(b"i1 IDLE\r\n")
    assert m.readline().startswith(b"+"), "IDLE not accepted"
    t0 = time.monotonic()
    with smtplib.SMTP(host, smtp_port, timeout=10) as s:
        s.sendmail(sender, [rcpt], f"Subject: idle {tag}\r\n\r\nx\r\n".encode())
    m.sock.settimeout(DEADLINE_S)
    while True:
        line = m.readline()
        assert line, "connection closed during IDLE"
        if line.endswith(b"EXISTS\r\n"):
            break
    timings["smtp accept -> IDLE EXISTS"] = time.monotonic() - t0
    m.send(b"DONE\r\n")
    while not m.readline().startswith(b"i1 OK"):
        pass
    m.sock.settimeout(10)
    m.logout()
    check("IDLE reports a new delivery")

    # (c) a client trusting only other-ca.pem is refused (IMAPS, SMTPS, SMTP STARTTLS).
    try:
        imaplib.IMAP4_SSL(host, int(env["AUTOSVAR_TEST_IMAPS_PORT"]), ssl_context=other, timeout=10)
        raise AssertionError("IMAPS accepted a cert not signed by other-ca.pem")
    except ssl.SSLCertVerificationError:
        pass
    try:
        smtplib.SMTP_SSL(host, smtps_port, context=other, timeout=10)
        raise AssertionError("SMTPS accepted a cert not signed by other-ca.pem")
    except ssl.SSLCertVerificationError:
        pass
    with smtplib.SMTP(host, smtp_port, timeout=10) as s:
        try:
            s.starttls(context=other)
            raise AssertionError("STARTTLS accepted a cert not signed by other-ca.pem")
        except ssl.SSLCertVerificationError:
            pass
    # ... and the hostname check works both ways: localhost is in the SAN too.
    with socket.create_connection((host, smtps_port), timeout=10) as raw:
        with ca.wrap_socket(raw, server_hostname="localhost"):
            pass
    check("untrusted CA refused (IMAPS, SMTPS, STARTTLS); SAN localhost ok")

    # (e) bounce: Dovecot refuses x!y-<tag>@example.test ('!' not in auth_username_chars);
    # the DSN lands in the sender's INBOX.
    bad = f"x!y-{tag}@example.test"
    t0 = time.monotonic()
    with smtplib.SMTP(host, smtp_port, timeout=10) as s:
        s.starttls(context=ca)
        s.sendmail(sender, [bad], (f"From: {sender}\r\nTo: {bad}\r\nSubject: bounce me {tag}\r\n"
                                   f"Message-ID: <bounce-{tag}@smoke.example.test>\r\n\r\nx\r\n"))
    m = imaps(env, sender, ca)
    uids = wait_for(lambda: find(m, "INBOX", "Subject", "Undelivered"), "bounce DSN")
    timings["smtp accept -> DSN visible over IMAPS"] = time.monotonic() - t0
    dsn = fetch(m, uids[0])
    assert dsn["From"].addresses[0].username == "MAILER-DAEMON", dsn["From"]
    assert dsn["Auto-Submitted"] == "auto-replied", dsn["Auto-Submitted"]
    assert dsn.get_content_type() == "multipart/report", dsn.get_content_type()
    assert dsn.get_param("report-type") == "delivery-status"
    assert f"bounce-{tag}@smoke.example.test" in dsn.as_string()
    m.logout()
    check("bounce DSN in sender's INBOX (MAILER-DAEMON, Auto-Submitted, multipart/report)")

    for k, v in timings.items():
        print(f"time {k}: {v * 1000:.0f} ms")
    print(f"{len(checks)} passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report and fail
        import traceback
        traceback.print_exc()
        print(f"smoke: FAILED: {e!r}")
        print("0 passed, 1 failed")
        sys.exit(1)
