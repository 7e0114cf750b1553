#!/bin/sh
echo "Migrations are applied by npm run migrate and authored by npm run migrate:create." >&2
exit 1
