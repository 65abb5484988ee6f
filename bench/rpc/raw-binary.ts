/** bench/rpc's baseline with Catga's envelope fields in a fixed binary layout (see _raw.ts). */
import { rawContender } from "./_raw.js";
import { main } from "./_worker.js";

main(rawContender({ headers: false, binary: true }));
