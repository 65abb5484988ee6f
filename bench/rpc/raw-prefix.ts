/** bench/rpc's baseline with Catga's envelope as the payload's first line (see _raw.ts). */
import { rawContender } from "./_raw.js";
import { main } from "./_worker.js";

main(rawContender({ headers: false, prefix: true }));
