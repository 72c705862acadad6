// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// Never deployed. The operator sends this contract's creation code in one
/// eth_call at the block it pinned (a "deployless" read, as viem does for
/// Multicall3 on chains without it), and the constructor returns what the
/// chain says about a batch of manifest verifications: the Safes' owners,
/// thresholds and versions, each owner's approved hash and code, the agent
/// registry's word on each proposer, and the Safe's own checkNSignatures on
/// every candidate signature, one call per signature, as the operator would
/// make them one by one. The lens judges nothing: it carries the calls and
/// hands back their raw outcomes, which the operator decodes and weighs.
///
/// What a constructor returns is taken as the new contract's code, so it must
/// stay under EIP-170's 24,576 bytes: the answer is packed, not ABI-encoded
/// (operator/chain/lens.ts reads it):
///
///   answer  := chainId:32 number:32 timestamp:32 safe{safes} query{queries}
///   safe    := owners:call threshold:call version:call canary:outcome
///   query   := probe{owners of each Safe, in order} outcome{checks} agent:call proposer:20
///   probe   := flags:1 [approved:outcome if flags & 2] [contract:outcome if flags & 4]
///              (flags: 1 approvedHashes() answered, 2 it was not zero, 4 the owner has code)
///   call    := ok:1 length:2 data:length
///   outcome := 0 (not asked) | 1 (empty success) | 2 (success with data)
///            | 3 length:1 revert:length (the first 255 bytes of the revert data)
contract ManifestLens {
    /// A candidate signature: checked only when `signer` is an owner of Safe `safe` at this block.
    struct Check {
        uint8 safe;
        address signer;
        bytes signature;
    }

    /// An ECDSA signature split as ecrecover takes it (v 27 or 28; anything else recovers no one).
    struct Signature {
        bytes32 hash;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// One manifest: the hash each Safe signs (by Safe index), its candidates, its proposer's agent
    /// and the proposer's signature of the manifest.
    struct Query {
        bytes32[] hashes;
        Check[] checks;
        address agent;
        Signature proposal;
    }

    bytes4 private constant GET_OWNERS = bytes4(keccak256("getOwners()"));
    bytes4 private constant GET_THRESHOLD = bytes4(keccak256("getThreshold()"));
    bytes4 private constant VERSION = bytes4(keccak256("VERSION()"));
    bytes4 private constant APPROVED_HASHES = bytes4(keccak256("approvedHashes(address,bytes32)"));
    bytes4 private constant CHECK_N_SIGNATURES =
        bytes4(keccak256("checkNSignatures(address,bytes32,bytes,uint256)"));
    bytes4 private constant AGENT_OF = bytes4(keccak256("agentOf(address)"));
    bytes32 private constant CANARY_HASH = bytes32(uint256(1));
    uint256 private constant MAX_ANSWER = 24_576;

    /// The answer being written: a buffer of the largest size allowed and how much of it is used.
    struct Out {
        bytes buf;
        uint256 len;
    }

    constructor(address[] memory safes, address registry, Query[] memory queries) {
        Out memory out = Out(new bytes(MAX_ANSWER), 0);
        _write(out, abi.encodePacked(block.chainid, block.number, block.timestamp));
        address[][] memory owners = new address[][](safes.length);
        for (uint256 s = 0; s < safes.length; s++) {
            (bool ok, bytes memory data) = safes[s].staticcall(abi.encodeWithSelector(GET_OWNERS));
            _writeCall(out, ok, data);
            if (ok && data.length >= 64) owners[s] = abi.decode(data, (address[]));
            (ok, data) = safes[s].staticcall(abi.encodeWithSelector(GET_THRESHOLD));
            _writeCall(out, ok, data);
            (ok, data) = safes[s].staticcall(abi.encodeWithSelector(VERSION));
            _writeCall(out, ok, data);
            // r = s = 0, v = 27: ECDSA that recovers no address.
            _write(out, _check(safes[s], CANARY_HASH, abi.encodePacked(bytes32(0), bytes32(0), uint8(27))));
        }
        for (uint256 q = 0; q < queries.length; q++) {
            _query(out, safes, owners, registry, queries[q]);
        }
        bytes memory answer = out.buf;
        uint256 len = out.len;
        assembly {
            return(add(answer, 32), len)
        }
    }

    /// Declares the constructor's arguments for encoding; the constructor does the work.
    function judge(address[] calldata, address, Query[] calldata) external pure {
        revert("ManifestLens runs only as creation code in eth_call");
    }

    function _query(
        Out memory out,
        address[] memory safes,
        address[][] memory owners,
        address registry,
        Query memory query
    ) private view {
        for (uint256 s = 0; s < safes.length; s++) {
            for (uint256 o = 0; o < owners[s].length; o++) {
                _probe(out, safes[s], owners[s][o], query.hashes[s]);
            }
        }
        for (uint256 c = 0; c < query.checks.length; c++) {
            Check memory check = query.checks[c];
            if (!_contains(owners[check.safe], check.signer)) {
                _write(out, abi.encodePacked(uint8(0)));
                continue;
            }
            _write(out, _check(safes[check.safe], query.hashes[check.safe], check.signature));
        }
        (bool ok, bytes memory data) = registry.staticcall(abi.encodeWithSelector(AGENT_OF, query.agent));
        _writeCall(out, ok, data);
        Signature memory p = query.proposal;
        // The precompile answers in native code what a recovery in JavaScript takes 1.6 ms for.
        address proposer = p.v == 27 || p.v == 28 ? ecrecover(p.hash, p.v, p.r, p.s) : address(0);
        _write(out, abi.encodePacked(proposer));
    }

    /// The two signatures an owner can give on chain, encoded as the operator encodes them.
    function _probe(Out memory out, address safe, address owner, bytes32 hash) private view {
        bytes32 r = bytes32(uint256(uint160(owner)));
        (bool ok, bytes memory data) = safe.staticcall(abi.encodeWithSelector(APPROVED_HASHES, owner, hash));
        bool answered = ok && data.length == 32;
        bool approved = answered && abi.decode(data, (uint256)) != 0;
        bool isContract = owner.code.length > 0;
        _write(out, abi.encodePacked(uint8((answered ? 1 : 0) | (approved ? 2 : 0) | (isContract ? 4 : 0))));
        if (approved) _write(out, _check(safe, hash, abi.encodePacked(r, bytes32(0), uint8(1))));
        // v = 0: the data starts right after the 65-byte part, and is empty.
        if (isContract) _write(out, _check(safe, hash, abi.encodePacked(r, uint256(65), uint8(0), uint256(0))));
    }

    /// checkNSignatures on one signature, as an outcome; at most 255 bytes of a revert are copied.
    function _check(address safe, bytes32 hash, bytes memory signature) private view returns (bytes memory) {
        bytes memory input = abi.encodeWithSelector(CHECK_N_SIGNATURES, address(0), hash, signature, uint256(1));
        bytes memory head = new bytes(255);
        bool ok;
        uint256 size;
        assembly {
            ok := staticcall(gas(), safe, add(input, 32), mload(input), 0, 0)
            size := returndatasize()
            let n := size
            if gt(n, 255) {
                n := 255
            }
            returndatacopy(add(head, 32), 0, n)
            mstore(head, n)
        }
        if (ok) return abi.encodePacked(uint8(size == 0 ? 1 : 2));
        return abi.encodePacked(uint8(3), uint8(head.length), head);
    }

    function _writeCall(Out memory out, bool ok, bytes memory data) private pure {
        require(data.length <= type(uint16).max, "ManifestLens: an answer too long to carry");
        _write(out, abi.encodePacked(ok, uint16(data.length), data));
    }

    function _write(Out memory out, bytes memory data) private pure {
        uint256 at = out.len;
        uint256 n = data.length;
        require(at + n <= out.buf.length, "ManifestLens: answer too large");
        bytes memory buf = out.buf;
        assembly {
            mcopy(add(add(buf, 32), at), add(data, 32), n)
        }
        out.len = at + n;
    }

    function _contains(address[] memory list, address item) private pure returns (bool) {
        for (uint256 i = 0; i < list.length; i++) {
            if (list[i] == item) return true;
        }
        return false;
    }
}
