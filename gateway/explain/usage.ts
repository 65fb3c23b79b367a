/** `portico explain` in the CLI's usage text (cli.ts shows it without loading the command). */
export const EXPLAIN_USAGE = `  portico explain [--config FILE] [--user NAME --groups a,b --idp ID --email ADDR]
                  [--bearer foreign|idp|api-key:ID] [--api] [--websocket] [--client IP]
                  [--header "Name: value"]... [--json] [METHOD] PATH
                                   what the gateway would do with one request: the route, the
                                   sign-in it needs, the allow rule that admits or refuses, and
                                   the headers the upstream gets. Exit 0 when it reaches the
                                   upstream, 2 when Portico answers instead (redirect, sign-in,
                                   refusal)
`;
