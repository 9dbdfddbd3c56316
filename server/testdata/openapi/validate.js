// Validates an OpenAPI document (argument 1) against the OpenAPI 3 schema
// and resolves every $ref; prints "ok" or the validator's error and exits 1.
'use strict';
const SwaggerParser = require('@apidevtools/swagger-parser');

SwaggerParser.validate(process.argv[2])
  .then((api) => {
    console.log('ok ' + api.openapi + ' ' + Object.keys(api.paths).length + ' paths');
  })
  .catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
