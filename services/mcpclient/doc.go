// Package mcpclient reaches external MCP (Model Context Protocol) servers
// over Streamable HTTP, by the names the operator gave them
// (GRIMOIRE_MCP_SERVERS): it implements services.ToolServers for the Chat
// Completion node. It imports services and the MCP Go SDK only.
package mcpclient
