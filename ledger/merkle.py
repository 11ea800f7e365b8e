"""RFC 6962 Merkle trees over SHA-256, and an offline verifier for exported ledger proofs.

Pure Python and the standard library only (no Django, no pycryptodome), so that an auditor can copy
this one file and check a Clearhouse seal and proof with nothing but the published platform key.

Definitions (RFC 6962 section 2.1; RFC 9162 section 2.1 is the same tree):
    MTH({})        = SHA-256()                       the empty tree
    MTH({d0})      = SHA-256(0x00 || d0)              a leaf
    MTH(D[n])      = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k = largest power of two < n

Big logs: the root is computed by `TreeBuilder`, a stack of complete subtrees (O(n) hashing,
O(log n) memory, no recursion), fed leaf hashes in order. Proofs are lists of subtree hashes over
disjoint index ranges (`inclusion_proof_ranges`, `consistency_proof_ranges`); the caller computes
each range's hash however it can (from a list here, from the database in ledger.seals).
Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2: it needs only the proof, the sizes and
the roots.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    """MTH of a one-leaf tree: SHA-256(0x00 || leaf)."""
    return _sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2): where RFC 6962 splits D[n]."""
    if n < 2:
        raise ValueError("a tree of fewer than two leaves does not split")
    return 1 << ((n - 1).bit_length() - 1)


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees (start, size) that make up the RFC 6962 subtree D[start:end].

    They are the binary decomposition of end - start, largest first, and
    MTH(D[start:end]) = fold_right(their hashes). `start` must be the start of a subtree of the
    tree (a multiple of the power of two at or above end - start), as every proof range is.
    """
    pieces = []
    position = start
    remaining = end - start
    while remaining > 0:
        size = 1 << (remaining.bit_length() - 1)
        pieces.append((position, size))
        position += size
        remaining -= size
    return pieces


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of consecutive complete subtrees (largest first) into their tree's MTH."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = _sha256(_NODE_PREFIX + left + result).digest()
    return result


class TreeBuilder:
    """Streaming MTH: push leaf hashes in index order; O(log n) memory, one hash per node.

    The stack holds the complete subtrees of the binary decomposition of the leaves seen so far,
    exactly RFC 6962's left subtrees, so `root()` equals MTH for every prefix.
    `on_subtree(start, size, hash)` is called for every complete subtree of at least
    `min_subtree_size` leaves that gets finished (start is counted from `start`).
    """

    __slots__ = ("_hashes", "_min_size", "_on_subtree", "_sizes", "count", "start")

    def __init__(
        self,
        *,
        start: int = 0,
        on_subtree: Callable[[int, int, bytes], None] | None = None,
        min_subtree_size: int = 2,
    ) -> None:
        self.start = start
        self.count = 0
        self._sizes: list[int] = []
        self._hashes: list[bytes] = []
        self._on_subtree = on_subtree
        self._min_size = max(2, min_subtree_size)

    @classmethod
    def from_frontier(
        cls,
        frontier: Sequence[tuple[int, bytes]],
        **kwargs,
    ) -> TreeBuilder:
        """Resume a tree from its frontier: the (size, hash) complete subtrees, largest first."""
        builder = cls(**kwargs)
        previous = None
        for size, subtree_hash in frontier:
            if not is_power_of_two(size) or (previous is not None and size >= previous):
                raise ValueError("a frontier is strictly decreasing powers of two")
            builder._sizes.append(size)
            builder._hashes.append(subtree_hash)
            builder.count += size
            previous = size
        return builder

    def push(self, leaf_hash_value: bytes) -> None:
        sizes = self._sizes
        hashes = self._hashes
        subtree_hash = leaf_hash_value
        size = 1
        while sizes and sizes[-1] == size:
            sizes.pop()
            subtree_hash = _sha256(_NODE_PREFIX + hashes.pop() + subtree_hash).digest()
            size <<= 1
            if self._on_subtree is not None and size >= self._min_size:
                self._on_subtree(self.start + self.count + 1 - size, size, subtree_hash)
        sizes.append(size)
        hashes.append(subtree_hash)
        self.count += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        push = self.push
        for value in leaf_hashes:
            push(value)

    def frontier(self) -> list[tuple[int, bytes]]:
        return list(zip(self._sizes, self._hashes, strict=True))

    def root(self) -> bytes:
        """MTH of the leaves pushed so far; O(log n), leaves the builder as it was."""
        return fold_right(self._hashes)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    builder = TreeBuilder()
    builder.extend(leaf_hashes)
    return builder.root()


def root_from_leaves(leaves: Iterable[bytes]) -> bytes:
    return root_from_leaf_hashes(leaf_hash(leaf) for leaf in leaves)


# --- Proof shapes -------------------------------------------------------------------------------


def inclusion_proof_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The ranges [start, end) whose MTHs form PATH(index, D[tree_size]) (RFC 6962 2.1.1).

    Leaf-side first, as the RFC orders the audit path. The ranges are disjoint; together with the
    leaf they cover D[0:tree_size].
    """
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} is outside a tree of size {tree_size}")
    ranges = []
    start, end = 0, tree_size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose MTHs form PROOF(old_size, D[new_size]) (RFC 6962 2.1.2, with SUBPROOF).

    Empty when old_size is 0 or equals new_size (nothing to prove). The ranges are disjoint.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    ranges = []
    start, end = 0, new_size
    m = old_size
    # b of SUBPROOF: true while the subtree still starts at 0, where the old root is known.
    at_old_root = True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            at_old_root = False
    if not at_old_root:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _subtree_hash(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    builder = TreeBuilder()
    for position in range(start, end):
        builder.push(leaf_hashes[position])
    return builder.root()


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]) over an in-memory list of leaf hashes."""
    if tree_size > len(leaf_hashes):
        raise ValueError("the tree is larger than the leaves given")
    return [_subtree_hash(leaf_hashes, a, b) for a, b in inclusion_proof_ranges(index, tree_size)]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) over an in-memory list of leaf hashes."""
    if new_size > len(leaf_hashes):
        raise ValueError("the tree is larger than the leaves given")
    return [
        _subtree_hash(leaf_hashes, a, b) for a, b in consistency_proof_ranges(old_size, new_size)
    ]


# --- Verification (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------------------------


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def root_from_inclusion_proof(
    leaf_hash_value: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root the proof leads to, or None when the proof cannot be right for this index/size."""
    if not (
        isinstance(index, int)
        and isinstance(tree_size, int)
        and 0 <= index < tree_size
        and _is_hash(leaf_hash_value)
        and all(_is_hash(p) for p in proof)
    ):
        return None
    fn, sn = index, tree_size - 1
    result = leaf_hash_value
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            result = node_hash(p, result)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return result


def verify_inclusion(
    leaf_hash_value: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when `proof` shows the leaf hash at `index` in the tree of `tree_size` with `root`."""
    computed = root_from_inclusion_proof(leaf_hash_value, index, tree_size, proof)
    return computed is not None and _is_hash(root) and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when `proof` shows the tree (old_size, old_root) is a prefix of (new_size, new_root)."""
    if not (
        isinstance(old_size, int)
        and isinstance(new_size, int)
        and 0 <= old_size <= new_size
        and _is_hash(old_root)
        and _is_hash(new_root)
        and all(_is_hash(p) for p in proof)
    ):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty one; its root is fixed.
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if is_power_of_two(old_size):
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --- Offline verification of an exported bundle -------------------------------------------------
#
# A bundle (ledger.seals.export_inclusion / export_consistency) is JSON holding the signed tree
# head bytes, the signature, and a proof. The signature is Ed25519 (RFC 8032); it is checked here
# in pure Python so that an auditor needs nothing but this file and the platform's public key. Only
# public data is handled, so the constant-time concerns of signing do not arise.

BUNDLE_INCLUSION = "clearhouse.ledger.inclusion.v1"
BUNDLE_CONSISTENCY = "clearhouse.ledger.consistency.v1"
TREE_HEAD_TYPE = "clearhouse.ledger.tree_head"


class BundleInvalid(Exception):
    """The bundle does not prove what it claims."""


_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def _point_add(p: tuple, q: tuple) -> tuple:
    # Extended coordinates (X, Y, Z, T), RFC 8032 section 5.1.4.
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point_mul(scalar: int, point: tuple) -> tuple:
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _point_add(result, point)
        point = _point_add(point, point)
        scalar >>= 1
    return result


def _point_equal(p: tuple, q: tuple) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % _P == 0 and (p[1] * q[2] - q[1] * p[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _point_decompress(data: bytes) -> tuple | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_G_Y = 4 * pow(5, _P - 2, _P) % _P
_G = (_recover_x(_G_Y, 0), _G_Y, 1, _recover_x(_G_Y, 0) * _G_Y % _P)


def ed25519_public_key_from_pem(public_pem: str) -> bytes:
    """The 32 raw key bytes of an Ed25519 SubjectPublicKeyInfo PEM."""
    lines = [line.strip() for line in public_pem.strip().splitlines()]
    if (
        not lines
        or lines[0] != "-----BEGIN PUBLIC KEY-----"
        or lines[-1] != "-----END PUBLIC KEY-----"
    ):
        raise BundleInvalid("the public key is not a PEM public key")
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError as exc:
        raise BundleInvalid("the public key PEM is not base64") from exc
    if len(der) != 44 or not der.startswith(_ED25519_SPKI_PREFIX):
        raise BundleInvalid("the public key is not an Ed25519 key")
    return der[len(_ED25519_SPKI_PREFIX) :]


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 section 5.1.7 verification (cofactorless), pure Python."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a_point = _point_decompress(public_key)
    r_point = _point_decompress(signature[:32])
    if a_point is None or r_point is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = (
        int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")
        % _L
    )
    return _point_equal(_point_mul(s, _G), _point_add(r_point, _point_mul(k, a_point)))


def _b64(bundle: dict, key: str) -> bytes:
    value = bundle.get(key)
    if not isinstance(value, str):
        raise BundleInvalid(f"{key} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise BundleInvalid(f"{key} is not base64") from exc


def _hex_hash(value: object, what: str) -> bytes:
    try:
        result = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        result = b""
    if len(result) != HASH_SIZE:
        raise BundleInvalid(f"{what} is not a 32-byte hex hash")
    return result


def _checked_head(signed: dict, public_key: bytes, what: str) -> dict:
    """Check a signed tree head's signature and shape; return its fields."""
    if not isinstance(signed, dict):
        raise BundleInvalid(f"{what} is missing")
    head_bytes = _b64(signed, "tree_head")
    signature = _b64(signed, "signature")
    if not ed25519_verify(public_key, head_bytes, signature):
        raise BundleInvalid(f"{what}: the signature does not verify with the given public key")
    try:
        head = json.loads(head_bytes)
    except ValueError as exc:
        raise BundleInvalid(f"{what}: the tree head is not JSON") from exc
    if not isinstance(head, dict) or head.get("type") != TREE_HEAD_TYPE or head.get("v") != 1:
        raise BundleInvalid(f"{what}: not a version 1 Clearhouse tree head")
    size = head.get("tree_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BundleInvalid(f"{what}: bad tree_size")
    head["root_hash_bytes"] = _hex_hash(head.get("root_hash"), f"{what} root_hash")
    head["head_hash"] = hashlib.sha256(head_bytes).hexdigest()
    return head


def verify_bundle(bundle: dict | str | bytes, public_key_pem: str) -> dict:
    """Check an exported inclusion or consistency bundle offline; return what it proves.

    Raises BundleInvalid naming the first thing that fails. For an inclusion bundle the result
    holds the transfer (decoded from the exact bytes that were hashed), its leaf index and the
    tree head; for a consistency bundle, both tree heads.
    """
    if isinstance(bundle, str | bytes):
        try:
            bundle = json.loads(bundle)
        except ValueError as exc:
            raise BundleInvalid("the bundle is not JSON") from exc
    if not isinstance(bundle, dict):
        raise BundleInvalid("the bundle is not a JSON object")
    public_key = ed25519_public_key_from_pem(public_key_pem)
    proof_hex = bundle.get("proof")
    if not isinstance(proof_hex, list):
        raise BundleInvalid("proof is missing")
    proof = [_hex_hash(p, "a proof hash") for p in proof_hex]
    kind = bundle.get("format")
    if kind == BUNDLE_INCLUSION:
        head = _checked_head(bundle.get("seal"), public_key, "seal")
        leaf = _b64(bundle, "leaf")
        index = bundle.get("leaf_index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise BundleInvalid("leaf_index is missing")
        if not verify_inclusion(
            leaf_hash(leaf), index, head["tree_size"], proof, head["root_hash_bytes"]
        ):
            raise BundleInvalid(
                f"the inclusion proof for leaf {index} does not lead to the sealed root"
            )
        try:
            transfer = json.loads(leaf)
        except ValueError as exc:
            raise BundleInvalid("the leaf is not JSON") from exc
        return {"format": kind, "leaf_index": index, "transfer": transfer, "tree_head": head}
    if kind == BUNDLE_CONSISTENCY:
        old = _checked_head(bundle.get("old_seal"), public_key, "old_seal")
        new = _checked_head(bundle.get("new_seal"), public_key, "new_seal")
        if not verify_consistency(
            old["tree_size"],
            new["tree_size"],
            old["root_hash_bytes"],
            new["root_hash_bytes"],
            proof,
        ):
            raise BundleInvalid(
                f"the tree of size {new['tree_size']} is not an extension of the tree of "
                f"size {old['tree_size']}"
            )
        return {"format": kind, "old_tree_head": old, "new_tree_head": new}
    raise BundleInvalid(f"unknown bundle format {kind!r}")
