/**
 * The previous majors of the frameworks, installed under aliases (`express4`, `koa2`) so the
 * adapter conformance suite runs against them too. Neither ships its own types; the current
 * majors' types describe everything the suite uses of them. (fastify 4 ships its own.)
 */
declare module 'express4' {
  import express from 'express';
  export default express;
}
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
