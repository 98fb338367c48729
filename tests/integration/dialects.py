"""Encrypting the provincial and national dialects with the openssl command
line tool: an implementation independent of the server's, so a test that
round-trips through both proves the wire format, not just self-consistency."""
import base64
import json
import subprocess


def _openssl(cipher, key_hex, iv_hex, data, legacy=False):
    args = ["openssl", "enc", "-" + cipher, "-K", key_hex, "-iv", iv_hex, "-nosalt"]
    if legacy:
        args += ["-provider", "legacy", "-provider", "default"]
    r = subprocess.run(args, input=data, capture_output=True, check=True)
    return r.stdout


def hebei_body(qybm, inner, des_key, iv=b"12345678", wgbm=None, img=None):
    plain = json.dumps(inner, ensure_ascii=False).encode()
    ct = _openssl("des-cbc", des_key.encode().hex(), iv.hex(), plain, legacy=True)
    body = {"qybm": qybm, "data": base64.b64encode(ct).hex().upper()}
    if wgbm:
        body["wgbm"] = wgbm
    if img is not None:
        body["img"] = img
    return body


def mem_body(appid, inner, sm4_key_hex, sm4_iv_hex):
    plain = json.dumps(inner, ensure_ascii=False).encode()
    ct = _openssl("sm4-cbc", sm4_key_hex, sm4_iv_hex, plain)
    return {"appid": appid, "data": ct.hex()}
