// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Anchors of the regions' decision logs.
/// @notice The owner (the Consortium Safe) registers each region's log: the hash of its
/// origin line, its Ed25519 log key, and the account that anchors for it. That account
/// anchors the log's checkpoints (size, root): never a smaller size, never another root at
/// the same size. An anchor proves that a checkpoint existed by a block, and its order; a
/// log that showed two histories is caught by its witnesses, and by anyone comparing a
/// checkpoint with the anchored root at its size. The Ed25519 key is recorded, not
/// checked here (the EVM has no Ed25519 precompile): a region's anchoring account speaks
/// for its log key, as the Safe's registration says.
contract LogAnchor is Ownable {
    error UnknownLog(bytes32 log);
    error NotAnchorer(bytes32 log, address account);
    error SmallerSize(bytes32 log, uint64 anchored, uint64 offered);
    error RootMismatch(bytes32 log, uint64 size);
    error ZeroAddress();
    error RenounceDisabled();

    event LogRegistered(bytes32 indexed log, bytes32 key, address anchorer);
    event Anchored(bytes32 indexed log, uint64 size, bytes32 root);

    struct Log {
        bytes32 key;
        address anchorer;
        uint64 size;
        uint64 at;
        bytes32 root;
    }

    mapping(bytes32 log => Log) private _logs;

    constructor(address initialOwner) Ownable(initialOwner) {}

    /// @notice Registers a region's log, or changes its key or anchoring account (a rotation).
    /// What was anchored stays: a new key continues the log, it cannot roll it back.
    function register(bytes32 log, bytes32 key, address anchorer) external onlyOwner {
        if (anchorer == address(0)) revert ZeroAddress();
        Log storage l = _logs[log];
        l.key = key;
        l.anchorer = anchorer;
        emit LogRegistered(log, key, anchorer);
    }

    /// @notice Anchors a checkpoint of `log`: its size and root hash.
    function anchor(bytes32 log, uint64 size, bytes32 root) external {
        Log storage l = _logs[log];
        if (l.anchorer == address(0)) revert UnknownLog(log);
        if (msg.sender != l.anchorer) revert NotAnchorer(log, msg.sender);
        if (size < l.size) revert SmallerSize(log, l.size, size);
        if (size == l.size && l.at != 0) {
            if (root != l.root) revert RootMismatch(log, size);
            return;
        }
        l.size = size;
        l.root = root;
        l.at = uint64(block.timestamp);
        emit Anchored(log, size, root);
    }

    /// @notice A log's registration and its latest anchor (all zero for an unknown log).
    function latest(bytes32 log)
        external
        view
        returns (bytes32 key, address anchorer, uint64 size, bytes32 root, uint64 at)
    {
        Log storage l = _logs[log];
        return (l.key, l.anchorer, l.size, l.root, l.at);
    }

    // Without an owner no log could be registered or rotated again.
    function renounceOwnership() public virtual override {
        revert RenounceDisabled();
    }
}
