// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title The federation's emergency brake.
/// @notice Any guardian may pause at once, with the hash of its evidence; only the
/// owner (the DAO Board Safe) may lift a pause, and only the one it has reviewed.
contract GuardianPause is Ownable {
    error NotGuardian(address account);
    error EvidenceRequired();
    error NotPaused();
    error StalePause(uint256 requested, uint256 latest);
    error ZeroAddress();
    error RenounceDisabled();

    event GuardianSet(address indexed guardian, bool enabled);
    event Paused(address indexed guardian, bytes32 evidenceHash, uint256 indexed pauseId);
    event Unpaused(address indexed by, uint256 indexed pauseId);

    mapping(address guardian => bool) public isGuardian;
    bool public paused;
    /// @notice Id of the latest pause; ids start at 1 and never repeat.
    uint256 public pauseCount;

    struct Pause {
        address guardian;
        uint64 at;
        bytes32 evidence;
    }
    // Every pause gets fresh slots: the history stays readable, and a pause costs
    // the same gas whatever came before (when pauses shared slots, an estimate made
    // in the same second as the previous pause saw a no-op write and ran out of gas).
    mapping(uint256 pauseId => Pause) private _pauses;

    constructor(address initialOwner) Ownable(initialOwner) {}

    function setGuardian(address guardian, bool enabled) external onlyOwner {
        if (guardian == address(0)) revert ZeroAddress();
        isGuardian[guardian] = enabled;
        emit GuardianSet(guardian, enabled);
    }

    /// @notice Pausing while paused is allowed and recorded: fresh evidence must never
    /// be lost because an earlier pause is still in force.
    function pause(bytes32 evidenceHash) external returns (uint256 pauseId) {
        if (!isGuardian[msg.sender]) revert NotGuardian(msg.sender);
        if (evidenceHash == bytes32(0)) revert EvidenceRequired();
        pauseId = ++pauseCount;
        paused = true;
        _pauses[pauseId] = Pause(msg.sender, uint64(block.timestamp), evidenceHash);
        emit Paused(msg.sender, evidenceHash, pauseId);
    }

    /// @notice Lifts the pause only if `pauseId` is still the latest: a Safe transaction
    /// signed after reviewing pause n must not also lift a pause n+1 it never saw.
    function unpause(uint256 pauseId) external onlyOwner {
        if (!paused) revert NotPaused();
        if (pauseId != pauseCount) revert StalePause(pauseId, pauseCount);
        paused = false;
        emit Unpaused(msg.sender, pauseId);
    }

    /// @notice The latest pause, lifted or not; all zero before the first.
    function lastPause() external view returns (address guardian, bytes32 evidence, uint64 at, uint256 id) {
        id = pauseCount;
        Pause storage p = _pauses[id];
        return (p.guardian, p.evidence, p.at, id);
    }

    /// @notice Any past pause by id; all zero for an id not yet used.
    function pauseById(uint256 pauseId) external view returns (address guardian, bytes32 evidence, uint64 at) {
        Pause storage p = _pauses[pauseId];
        return (p.guardian, p.evidence, p.at);
    }

    // Without an owner a pause could never be lifted. Nonpayable like Ownable's, hence
    // `virtual`, which spares it solc's "restrict to pure".
    function renounceOwnership() public virtual override {
        revert RenounceDisabled();
    }
}
