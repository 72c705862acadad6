// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// ERC-5192 minimal soulbound interface; its interface id is 0xb45a3c0e.
interface IERC5192 {
    event Locked(uint256 tokenId);
    event Unlocked(uint256 tokenId);

    function locked(uint256 tokenId) external view returns (bool);
}

/// @title Soulbound identity of each DSP's AI agent.
/// @notice One DSP (identified by its Safe) has at most one live agent, and an agent
/// address holds at most one token. Only the owner (the DAO Board Safe) binds and
/// revokes agents: a compromised agent key is revoked, never moved.
contract AgentRegistry is ERC721, Ownable, IERC5192 {
    error Soulbound(uint256 tokenId);
    error ZeroAddress();
    error AgentAlreadyBound(address agent, uint256 tokenId);
    error DspAlreadyHasAgent(address dsp, address agent);
    error ApprovalsDisabled();
    error RenounceDisabled();

    event Bound(uint256 indexed tokenId, address indexed agent, address indexed dsp);
    event Revoked(uint256 indexed tokenId, address indexed agent, address indexed dsp);

    // Ids start at 1 so that 0 can mean "no token" in agentOf.
    uint256 private _lastId;
    mapping(uint256 tokenId => address dsp) private _dspOfToken;
    mapping(address agent => uint256 tokenId) private _tokenOfAgent;
    mapping(address dsp => address agent) private _agentOfDsp;

    constructor(address initialOwner) ERC721("DSC Agent", "DSCA") Ownable(initialOwner) {}

    function mint(address agent, address dsp) external onlyOwner returns (uint256 tokenId) {
        if (agent == address(0) || dsp == address(0)) revert ZeroAddress();
        uint256 held = _tokenOfAgent[agent];
        if (held != 0) revert AgentAlreadyBound(agent, held);
        address current = _agentOfDsp[dsp];
        if (current != address(0)) revert DspAlreadyHasAgent(dsp, current);

        tokenId = ++_lastId;
        _dspOfToken[tokenId] = dsp;
        _tokenOfAgent[agent] = tokenId;
        _agentOfDsp[dsp] = agent;
        // _mint, not _safeMint: the token can never move, so a receiver hook proves nothing.
        _mint(agent, tokenId);
        emit Locked(tokenId);
        emit Bound(tokenId, agent, dsp);
    }

    function revoke(uint256 tokenId) external onlyOwner {
        address agent = _requireOwned(tokenId);
        address dsp = _dspOfToken[tokenId];
        delete _dspOfToken[tokenId];
        delete _tokenOfAgent[agent];
        delete _agentOfDsp[dsp];
        _burn(tokenId);
        emit Revoked(tokenId, agent, dsp);
    }

    /// @notice The live token of `agent` and the DSP it acts for; (0, address(0)) when
    /// it has none, so an authorisation check is one call with no revert to decode.
    function agentOf(address agent) external view returns (uint256 tokenId, address dsp) {
        tokenId = _tokenOfAgent[agent];
        dsp = _dspOfToken[tokenId];
    }

    /// @notice The live agent of `dsp`, or address(0) when it has none.
    function dspAgent(address dsp) external view returns (address) {
        return _agentOfDsp[dsp];
    }

    /// @notice Reverts with ERC721NonexistentToken for a burnt or never-minted token, like ownerOf.
    function dspOf(uint256 tokenId) external view returns (address) {
        _requireOwned(tokenId);
        return _dspOfToken[tokenId];
    }

    function locked(uint256 tokenId) external view returns (bool) {
        _requireOwned(tokenId);
        return true;
    }

    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC5192).interfaceId || super.supportsInterface(interfaceId);
    }

    // An approval could never be used, so granting one is refused rather than recorded.
    // These overrides stay nonpayable, as ERC-721 and Ownable declare them, so that
    // wallets still see writes; `virtual` is what spares them solc's "restrict to pure".
    function approve(address, uint256) public virtual override {
        revert ApprovalsDisabled();
    }

    function setApprovalForAll(address, bool) public virtual override {
        revert ApprovalsDisabled();
    }

    // Without an owner nobody could revoke a compromised agent.
    function renounceOwnership() public virtual override {
        revert RenounceDisabled();
    }

    /// @dev Every transfer path (transferFrom, both safeTransferFrom) ends here; only
    /// mint (from zero) and burn (to zero) pass.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address) {
        address from = _ownerOf(tokenId);
        if (from != address(0) && to != address(0)) revert Soulbound(tokenId);
        return super._update(to, tokenId, auth);
    }
}
