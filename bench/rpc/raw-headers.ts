/** bench/rpc's baseline with Catga's headers, through the client's own headers object (see _raw.ts). */
import { rawContender } from "./_raw.js";
import { main } from "./_worker.js";

main(rawContender({ headers: true }));
