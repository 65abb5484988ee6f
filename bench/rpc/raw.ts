/** bench/rpc's baseline without headers (see _raw.ts). */
import { rawContender } from "./_raw.js";
import { main } from "./_worker.js";

main(rawContender({ headers: false }));
