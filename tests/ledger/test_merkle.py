"""ledger.merkle against RFC 6962 straight from its text, and against Certificate Transparency's
published test vectors (google/certificate-transparency cpp/merkletree/merkle_tree_test.cc)."""

import hashlib
import random

import pytest

from ledger import merkle


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- A reference implementation written from RFC 6962 section 2.1, recursion and all ----------


def k_for(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + d[0])
    k = k_for(n)
    return sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = k_for(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = k_for(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def data(n: int, seed: int = 0) -> list[bytes]:
    return [f"leaf {seed}:{i}".encode() * (i % 3 + 1) for i in range(n)]


# --- Certificate Transparency's known answers -------------------------------------------------

CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf index, tree size, audit path); CT numbers leaves from 1.
CT_PATHS = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def test_ct_roots_for_every_prefix_of_the_reference_leaves():
    hashes = [merkle.leaf_hash(leaf) for leaf in CT_LEAVES]
    assert merkle.root_from_leaf_hashes([]).hex() == CT_EMPTY
    assert merkle.EMPTY_ROOT.hex() == CT_EMPTY
    for n in range(1, 9):
        assert merkle.root_from_leaf_hashes(hashes[:n]).hex() == CT_ROOTS[n - 1]
        assert merkle.root_from_leaves(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "path"), CT_PATHS)
def test_ct_audit_paths(index, size, path):
    hashes = [merkle.leaf_hash(leaf) for leaf in CT_LEAVES]
    proof = merkle.inclusion_proof(hashes, index, size)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(CT_ROOTS[size - 1])
    assert merkle.verify_inclusion(hashes[index], index, size, proof, root)


@pytest.mark.parametrize(("old", "new", "expected"), CT_CONSISTENCY)
def test_ct_consistency_proofs(old, new, expected):
    hashes = [merkle.leaf_hash(leaf) for leaf in CT_LEAVES]
    proof = merkle.consistency_proof(hashes, old, new)
    assert [p.hex() for p in proof] == expected
    assert merkle.verify_consistency(
        old, new, bytes.fromhex(CT_ROOTS[old - 1]), bytes.fromhex(CT_ROOTS[new - 1]), proof
    )


# --- Against the reference implementation ----------------------------------------------------


def test_roots_match_the_rfc_definition_for_0_to_70_leaves():
    for n in range(71):
        leaves = data(n)
        assert merkle.root_from_leaves(leaves) == ref_mth(leaves), n


def test_roots_match_the_rfc_definition_for_random_sizes():
    rng = random.Random(6962)
    for n in [rng.randrange(71, 5000) for _ in range(6)] + [1023, 1024, 1025, 4096]:
        leaves = data(n, seed=n)
        assert merkle.root_from_leaves(leaves) == ref_mth(leaves), n


def test_every_prefix_root_while_streaming_and_resuming_from_the_frontier():
    leaves = data(130, seed=1)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    builder = merkle.TreeBuilder()
    for n, value in enumerate(hashes, start=1):
        builder.push(value)
        assert builder.root() == ref_mth(leaves[:n])
        resumed = merkle.TreeBuilder.from_frontier(builder.frontier())
        resumed.extend(hashes[n:])
        assert resumed.count == 130
        assert resumed.root() == ref_mth(leaves)


def test_builder_reports_each_complete_subtree_once_with_its_position():
    hashes = [merkle.leaf_hash(leaf) for leaf in data(37)]
    seen = []
    builder = merkle.TreeBuilder(
        on_subtree=lambda start, size, value: seen.append((start, size, value)),
        min_subtree_size=4,
    )
    builder.extend(hashes)
    expected = [(start, size) for size in (4, 8, 16, 32) for start in range(0, 37 - size + 1, size)]
    assert sorted((start, size) for start, size, _ in seen) == sorted(expected)
    for start, size, value in seen:
        assert value == merkle.root_from_leaf_hashes(hashes[start : start + size])


def test_perfect_subtrees_decompose_any_subtree_range():
    assert merkle.perfect_subtrees(0, 13) == [(0, 8), (8, 4), (12, 1)]
    assert merkle.perfect_subtrees(8, 14) == [(8, 4), (12, 2)]
    assert merkle.perfect_subtrees(5, 5) == []
    hashes = [merkle.leaf_hash(leaf) for leaf in data(45)]
    for end in range(1, 46):
        pieces = merkle.perfect_subtrees(0, end)
        combined = merkle.fold_right(
            [merkle.root_from_leaf_hashes(hashes[a : a + size]) for a, size in pieces]
        )
        assert combined == merkle.root_from_leaf_hashes(hashes[:end])


def test_split_point():
    assert [merkle.split_point(n) for n in range(2, 10)] == [1, 2, 2, 4, 4, 4, 4, 8]
    assert merkle.split_point(2**40 + 1) == 2**40
    with pytest.raises(ValueError):
        merkle.split_point(1)


def wrong_inclusion_variants(index: int, size: int, proof: list[bytes]):
    """Every way a proof can be wrong that a verifier must catch."""
    bad = b"\xaa" * 32
    for position in range(len(proof)):
        altered = list(proof)
        altered[position] = bytes([proof[position][0] ^ 1]) + proof[position][1:]
        yield "altered hash", index, size, altered
    if index > 0:
        yield "index - 1", index - 1, size, proof
    if index + 1 < size:
        yield "index + 1", index + 1, size, proof
    yield "size * 2", index, size * 2, proof
    if size // 2 > index:
        yield "size / 2", index, size // 2, proof
    if proof:
        yield "truncated", index, size, proof[:-1]
        yield "first dropped", index, size, proof[1:]
    yield "extended", index, size, [*proof, bad]
    yield "prefixed", index, size, [bad, *proof]


def test_inclusion_proofs_for_every_leaf_of_every_tree_up_to_40():
    leaves = data(40, seed=2)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    for size in range(1, 41):
        root = ref_mth(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(hashes, index, size)
            assert proof == ref_path(index, leaves[:size]), (index, size)
            assert merkle.verify_inclusion(hashes[index], index, size, proof, root)
            assert merkle.root_from_inclusion_proof(hashes[index], index, size, proof) == root
            for what, bad_index, bad_size, bad_proof in wrong_inclusion_variants(
                index, size, proof
            ):
                assert not merkle.verify_inclusion(
                    hashes[index], bad_index, bad_size, bad_proof, root
                ), (what, index, size)
            other = merkle.leaf_hash(b"not in the tree")
            assert not merkle.verify_inclusion(other, index, size, proof, root)
            assert not merkle.verify_inclusion(hashes[index], index, size, proof, merkle.EMPTY_ROOT)


def test_inclusion_rejects_malformed_input():
    h = merkle.leaf_hash(b"x")
    assert not merkle.verify_inclusion(h, 0, 0, [], h)
    assert not merkle.verify_inclusion(h, -1, 1, [], h)
    assert not merkle.verify_inclusion(h, 1, 1, [], h)
    assert not merkle.verify_inclusion(h[:31], 0, 1, [], h[:31])
    assert not merkle.verify_inclusion(h, 0, 2, [b"short"], h)
    assert merkle.verify_inclusion(h, 0, 1, [], h)
    with pytest.raises(ValueError):
        merkle.inclusion_proof_ranges(3, 3)


def test_consistency_proofs_for_every_pair_up_to_40():
    leaves = data(40, seed=3)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    bad = b"\xbb" * 32
    for new in range(1, 41):
        new_root = ref_mth(leaves[:new])
        for old in range(0, new + 1):
            old_root = ref_mth(leaves[:old])
            proof = merkle.consistency_proof(hashes, old, new)
            expected = [] if old == 0 else ref_proof(old, leaves[:new])
            assert proof == expected, (old, new)
            assert merkle.verify_consistency(old, new, old_root, new_root, proof), (old, new)
            if old in (0, new):
                assert not merkle.verify_consistency(old, new, old_root, new_root, [bad])
                if old != new or old != 0:
                    assert not merkle.verify_consistency(old, new, bad, new_root, proof)
                continue
            wrong = [
                ("old root", old, new, bad, new_root, proof),
                ("new root", old, new, old_root, bad, proof),
                ("swapped roots", old, new, new_root, old_root, proof),
                ("old - 1", old - 1, new, old_root, new_root, proof),
                ("old + 1", old + 1, new, old_root, new_root, proof),
                ("old ^ 2", old ^ 2, new, old_root, new_root, proof),
                ("new * 2", old, new * 2, old_root, new_root, proof),
                ("new / 2", old, new // 2, old_root, new_root, proof),
                ("empty", old, new, old_root, new_root, []),
                ("truncated", old, new, old_root, new_root, proof[:-1]),
                ("first dropped", old, new, old_root, new_root, proof[1:]),
                ("extended", old, new, old_root, new_root, [*proof, bad]),
                ("prefixed", old, new, old_root, new_root, [bad, *proof]),
            ]
            for position in range(len(proof)):
                altered = list(proof)
                altered[position] = bytes([proof[position][0] ^ 1]) + proof[position][1:]
                wrong.append((f"altered {position}", old, new, old_root, new_root, altered))
            for what, *args in wrong:
                if args[0] == args[1] and args[2] == args[3] and not args[4]:
                    continue  # that one is a true statement
                assert not merkle.verify_consistency(*args), (what, old, new)


def test_consistency_edge_cases():
    root = merkle.leaf_hash(b"a")
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root, [])
    assert not merkle.verify_consistency(0, 5, root, root, [])
    assert merkle.verify_consistency(1, 1, root, root, [])
    assert not merkle.verify_consistency(1, 1, root, merkle.EMPTY_ROOT, [])
    assert not merkle.verify_consistency(2, 1, root, root, [])
    assert not merkle.verify_consistency(1, 2, root, root, [])
    with pytest.raises(ValueError):
        merkle.consistency_proof_ranges(3, 2)


def test_proof_ranges_are_disjoint_and_logarithmic():
    size = 1_000_003
    for index in (0, 1, 524_287, 524_288, size - 1):
        ranges = merkle.inclusion_proof_ranges(index, size)
        assert len(ranges) <= 21
        covered = sorted(ranges)
        assert sum(b - a for a, b in covered) == size - 1
        assert all(not a <= index < b for a, b in covered)
    for old in (1, 2, 3, 777_777, size - 1):
        ranges = merkle.consistency_proof_ranges(old, size)
        assert len(ranges) <= 2 * 21
        spans = sorted(ranges)
        assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))


# --- The offline Ed25519 check ------------------------------------------------------------------

# RFC 8032 section 7.1, TEST 1 and TEST 2.
RFC8032 = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize(("public", "message", "signature"), RFC8032)
def test_ed25519_rfc8032_vectors(public, message, signature):
    public, message, signature = map(bytes.fromhex, (public, message, signature))
    assert merkle.ed25519_verify(public, message, signature)
    assert not merkle.ed25519_verify(public, message + b"!", signature)
    flipped = bytearray(signature)
    flipped[5] ^= 1
    assert not merkle.ed25519_verify(public, message, bytes(flipped))
    # S + L is the same point but must be refused (malleability).
    s = int.from_bytes(signature[32:], "little") + merkle._L
    assert not merkle.ed25519_verify(public, message, signature[:32] + s.to_bytes(32, "little"))
