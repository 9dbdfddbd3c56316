package server

import _ "embed"

// openAPIDocument is the OpenAPI 3 description of the REST API, served at
// /openapi.json. TestOpenAPICoversRoutes keeps it in step with routes().
//
//go:embed openapi.json
var openAPIDocument []byte
