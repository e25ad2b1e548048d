var he,C,He,Pt,F,Oe,We,Be,ke,le,ne,Fe,Se,xe,we,Dt,de={},_e=[],It=/acit|ex(?:s|g|n|p|$)|rph|grid|ows|mnc|ntw|ine[ch]|zoo|^ord|itera/i,me=Array.isArray;function R(t,e){for(var n in e)t[n]=e[n];return t}function Ce(t){t&&t.parentNode&&t.parentNode.removeChild(t)}function Te(t,e,n){var o,a,s,l={};for(s in e)s=="key"?o=e[s]:s=="ref"?a=e[s]:l[s]=e[s];if(arguments.length>2&&(l.children=arguments.length>3?he.call(arguments,2):n),typeof t=="function"&&t.defaultProps!=null)for(s in t.defaultProps)l[s]===void 0&&(l[s]=t.defaultProps[s]);return ce(t,l,o,a,null)}function ce(t,e,n,o,a){var s={type:t,props:e,key:n,ref:o,__k:null,__:null,__b:0,__e:null,__c:null,constructor:void 0,__v:a??++He,__i:-1,__u:0};return a==null&&C.vnode!=null&&C.vnode(s),s}function fe(t){return t.children}function ue(t,e){this.props=t,this.context=e}function z(t,e){if(e==null)return t.__?z(t.__,t.__i+1):null;for(var n;e<t.__k.length;e++)if((n=t.__k[e])!=null&&n.__e!=null)return n.__e;return typeof t.type=="function"?z(t):null}function Kt(t){if(t.__P&&t.__d){var e=t.__v,n=e.__e,o=[],a=[],s=R({},e);s.__v=e.__v+1,C.vnode&&C.vnode(s),Ee(t.__P,s,e,t.__n,t.__P.namespaceURI,32&e.__u?[n]:null,o,n??z(e),!!(32&e.__u),a),s.__v=e.__v,s.__.__k[s.__i]=s,Xe(o,s,a),e.__e=e.__=null,s.__e!=n&&Je(s)}}function Je(t){if((t=t.__)!=null&&t.__c!=null)return t.__e=t.__c.base=null,t.__k.some(function(e){if(e!=null&&e.__e!=null)return t.__e=t.__c.base=e.__e}),Je(t)}function Ue(t){(!t.__d&&(t.__d=!0)&&F.push(t)&&!pe.__r++||Oe!=C.debounceRendering)&&((Oe=C.debounceRendering)||We)(pe)}function pe(){try{for(var t,e=1;F.length;)F.length>e&&F.sort(Be),t=F.shift(),e=F.length,Kt(t)}finally{F.length=pe.__r=0}}function Ve(t,e,n,o,a,s,l,c,_,r,p){var f,i,h,v,m,b,k=o&&o.__k||_e,$=e.length;for(_=At(n,e,k,_,$),f=0;f<$;f++)(h=n.__k[f])!=null&&(i=h.__i!=-1&&k[h.__i]||de,h.__i=f,b=Ee(t,h,i,a,s,l,c,_,r,p),v=h.__e,h.ref&&i.ref!=h.ref&&(i.ref&&Me(i.ref,null,h),p.push(h.ref,h.__c||v,h)),m==null&&v!=null&&(m=v),4&h.__u?(_=ze(h,_,t),i.__e&&(i.__e=null)):typeof h.type=="function"&&b!==void 0?_=b:v&&(_=v.nextSibling),h.__u&=-7);return n.__e=m,_}function At(t,e,n,o,a){var s,l,c,_,r,p=n.length,f=p,i=0;for(t.__k=new Array(a),s=0;s<a;s++)(l=e[s])!=null&&typeof l!="boolean"&&typeof l!="function"?(typeof l=="string"||typeof l=="number"||typeof l=="bigint"||l.constructor==String?l=t.__k[s]=ce(null,l,null,null,null):me(l)?l=t.__k[s]=ce(fe,{children:l},null,null,null):l.constructor===void 0&&l.__b>0?l=t.__k[s]=ce(l.type,l.props,l.key,l.ref?l.ref:null,l.__v):t.__k[s]=l,_=s+i,l.__=t,l.__b=t.__b+1,c=null,(r=l.__i=Ot(l,n,_,f))!=-1&&(f--,(c=n[r])&&(c.__u|=2)),c==null||c.__v==null?(r==-1&&(a>p?i--:a<p&&i++),typeof l.type!="function"&&(l.__u|=4)):r!=_&&(r==_-1?i--:r==_+1?i++:(r>_?i--:i++,l.__u|=4))):t.__k[s]=null;if(f)for(s=0;s<p;s++)(c=n[s])!=null&&(2&c.__u)==0&&(c.__e==o&&(o=z(c)),Qe(c,c));return o}function ze(t,e,n){var o,a;if(typeof t.type=="function"){for(o=t.__k,a=0;o&&a<o.length;a++)o[a]&&(o[a].__=t,e=ze(o[a],e,n));return e}t.__e!=e&&(e&&t.type&&!e.parentNode&&(e=z(t)),e=n.insertBefore(t.__e,e||null));do e=e&&e.nextSibling;while(e!=null&&e.nodeType==8);return e}function Ot(t,e,n,o){var a,s,l,c=t.key,_=t.type,r=e[n],p=r!=null&&(2&r.__u)==0;if(r===null&&c==null||p&&c==r.key&&_==r.type)return n;if(o>(p?1:0)){for(a=n-1,s=n+1;a>=0||s<e.length;)if((r=e[l=a>=0?a--:s++])!=null&&(2&r.__u)==0&&c==r.key&&_==r.type)return l}return-1}function Re(t,e,n){e[0]=="-"?t.setProperty(e,n??""):t[e]=n==null?"":typeof n!="number"||It.test(e)?n:n+"px"}function ie(t,e,n,o,a){var s,l;e:if(e=="style")if(typeof n=="string")t.style.cssText=n;else{if(typeof o=="string"&&(t.style.cssText=o=""),o)for(e in o)n&&e in n||Re(t.style,e,"");if(n)for(e in n)o&&n[e]==o[e]||Re(t.style,e,n[e])}else if(e[0]=="o"&&e[1]=="n")s=e!=(e=e.replace(Fe,"$1")),l=e.toLowerCase(),e=l in t||e=="onFocusOut"||e=="onFocusIn"?l.slice(2):e.slice(2),t.l||(t.l={}),t.l[e+s]=n,n?o?n[ne]=o[ne]:(n[ne]=Se,t.addEventListener(e,s?we:xe,s)):t.removeEventListener(e,s?we:xe,s);else{if(a=="http://www.w3.org/2000/svg")e=e.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(e!="width"&&e!="height"&&e!="href"&&e!="list"&&e!="form"&&e!="tabIndex"&&e!="download"&&e!="rowSpan"&&e!="colSpan"&&e!="role"&&e!="popover"&&e in t)try{t[e]=n??"";break e}catch{}typeof n=="function"||(n==null||n===!1&&e[4]!="-"?t.removeAttribute(e):t.setAttribute(e,e=="popover"&&n==1?"":n))}}function qe(t){return function(e){if(this.l){var n=this.l[e.type+t];if(e[le]==null)e[le]=Se++;else if(e[le]<n[ne])return;return n(C.event?C.event(e):e)}}}function Ee(t,e,n,o,a,s,l,c,_,r){var p,f,i,h,v,m,b,k,$,j,S,u,x,M,y,I,K=e.type;if(e.constructor!==void 0)return null;128&n.__u&&(_=!!(32&n.__u),s=[c=e.__e=n.__e]),(p=C.__b)&&p(e);e:if(typeof K=="function"){f=l.length;try{if($=e.props,j=K.prototype&&K.prototype.render,S=(p=K.contextType)&&o[p.__c],u=p?S?S.props.value:p.__:o,n.__c?k=(i=e.__c=n.__c).__=i.__E:(j?e.__c=i=new K($,u):(e.__c=i=new ue($,u),i.constructor=K,i.render=Rt),S&&S.sub(i),i.state||(i.state={}),i.__n=o,h=i.__d=!0,i.__h=[],i._sb=[]),j&&i.__s==null&&(i.__s=i.state),j&&K.getDerivedStateFromProps!=null&&(i.__s==i.state&&(i.__s=R({},i.__s)),R(i.__s,K.getDerivedStateFromProps($,i.__s))),v=i.props,m=i.state,i.__v=e,h)j&&K.getDerivedStateFromProps==null&&i.componentWillMount!=null&&i.componentWillMount(),j&&i.componentDidMount!=null&&i.__h.push(i.componentDidMount);else{if(j&&K.getDerivedStateFromProps==null&&$!==v&&i.componentWillReceiveProps!=null&&i.componentWillReceiveProps($,u),e.__v==n.__v||!i.__e&&i.shouldComponentUpdate!=null&&i.shouldComponentUpdate($,i.__s,u)===!1){e.__v!=n.__v&&(i.props=$,i.state=i.__s,i.__d=!1),e.__e=n.__e,e.__k=n.__k,e.__k.some(function(B){B&&(B.__=e)}),_e.push.apply(i.__h,i._sb),i._sb=[],i.__h.length&&l.push(i),c=z(n);break e}i.componentWillUpdate!=null&&i.componentWillUpdate($,i.__s,u),j&&i.componentDidUpdate!=null&&i.__h.push(function(){i.componentDidUpdate(v,m,b)})}if(i.context=u,i.props=$,i.__P=t,i.__e=!1,x=C.__r,M=0,j)i.state=i.__s,i.__d=!1,x&&x(e),p=i.render(i.props,i.state,i.context),_e.push.apply(i.__h,i._sb),i._sb=[];else do i.__d=!1,x&&x(e),p=i.render(i.props,i.state,i.context),i.state=i.__s;while(i.__d&&++M<25);i.state=i.__s,i.getChildContext!=null&&(o=R(R({},o),i.getChildContext())),j&&!h&&i.getSnapshotBeforeUpdate!=null&&(b=i.getSnapshotBeforeUpdate(v,m)),y=p!=null&&p.type===fe&&p.key==null?Ze(p.props.children):p,c=Ve(t,me(y)?y:[y],e,n,o,a,s,l,c,_,r),i.base=e.__e,e.__u&=-161,i.__h.length&&l.push(i),k&&(i.__E=i.__=null)}catch(B){if(l.length=f,e.__v=null,_||s!=null){if(B.then){for(e.__u|=_?160:128;c&&c.nodeType==8&&c.nextSibling;)c=c.nextSibling;s!=null&&(s[s.indexOf(c)]=null),e.__e=c}else if(s!=null)for(I=s.length;I--;)Ce(s[I])}else e.__e=n.__e;e.__k==null&&(e.__k=n.__k||[]),B.then||Ge(e),C.__e(B,e,n)}}else s==null&&e.__v==n.__v?(e.__k=n.__k,e.__e=n.__e):c=e.__e=Ut(n.__e,e,n,o,a,s,l,_,r);return(p=C.diffed)&&p(e),128&e.__u?void 0:c}function Ge(t){t&&(t.__c&&(t.__c.__e=!0),t.__k&&t.__k.some(Ge))}function Xe(t,e,n){for(var o=0;o<n.length;o++)Me(n[o],n[++o],n[++o]);C.__c&&C.__c(e,t),t.some(function(a){try{t=a.__h,a.__h=[],t.some(function(s){s.call(a)})}catch(s){C.__e(s,a.__v)}})}function Ze(t){return typeof t!="object"||t==null||t.__b>0?t:me(t)?t.map(Ze):t.constructor!==void 0?null:R({},t)}function Ut(t,e,n,o,a,s,l,c,_){var r,p,f,i,h,v,m,b=n.props||de,k=e.props,$=e.type;if($=="svg"?a="http://www.w3.org/2000/svg":$=="math"?a="http://www.w3.org/1998/Math/MathML":a||(a="http://www.w3.org/1999/xhtml"),s!=null){for(r=0;r<s.length;r++)if((h=s[r])&&"setAttribute"in h==!!$&&($?h.localName==$:h.nodeType==3)){t=h,s[r]=null;break}}if(t==null){if($==null)return document.createTextNode(k);t=document.createElementNS(a,$,k.is&&k),c&&(C.__m&&C.__m(e,s),c=!1),s=null}if($==null)b===k||c&&t.data==k||(t.data=k);else{if(s=$=="textarea"&&k.defaultValue!=null?null:s&&he.call(t.childNodes),!c&&s!=null)for(b={},r=0;r<t.attributes.length;r++)b[(h=t.attributes[r]).name]=h.value;for(r in b)h=b[r],r=="dangerouslySetInnerHTML"?f=h:r=="children"||r in k||r=="value"&&"defaultValue"in k||r=="checked"&&"defaultChecked"in k||ie(t,r,null,h,a);for(r in k)h=k[r],r=="children"?i=h:r=="dangerouslySetInnerHTML"?p=h:r=="value"?v=h:r=="checked"?m=h:c&&typeof h!="function"||b[r]===h||ie(t,r,h,b[r],a);if(p)c||f&&(p.__html==f.__html||p.__html==t.innerHTML)||(t.innerHTML=p.__html),e.__k=[];else if(f&&(t.innerHTML=""),Ve(e.type=="template"?t.content:t,me(i)?i:[i],e,n,o,$=="foreignObject"?"http://www.w3.org/1999/xhtml":a,s,l,s?s[0]:n.__k&&z(n,0),c,_),s!=null)for(r=s.length;r--;)Ce(s[r]);c&&$!="textarea"||(r="value",$=="progress"&&v==null?t.removeAttribute("value"):v!=null&&(v!==t[r]||$=="progress"&&!v||$=="option"&&v!=b[r])&&ie(t,r,v,b[r],a),r="checked",m!=null&&m!=t[r]&&ie(t,r,m,b[r],a))}return t}function Me(t,e,n){try{if(typeof t=="function"){var o=typeof t.__u=="function";o&&t.__u(),o&&e==null||(t.__u=t(e))}else t.current=e}catch(a){C.__e(a,n)}}function Qe(t,e,n){var o,a;if(C.unmount&&C.unmount(t),(o=t.ref)&&(o.current&&o.current!=t.__e||Me(o,null,e)),(o=t.__c)!=null){if(o.componentWillUnmount)try{o.componentWillUnmount()}catch(s){C.__e(s,e)}o.base=o.__P=o.__n=null}if(o=t.__k)for(a=0;a<o.length;a++)o[a]&&Qe(o[a],e,n||typeof t.type!="function");n||Ce(t.__e),t.__c=t.__=t.__e=void 0}function Rt(t,e,n){return this.constructor(t,n)}function Ye(t,e,n){var o,a,s,l;e==document&&(e=document.documentElement),C.__&&C.__(t,e),a=(o=typeof n=="function")?null:n&&n.__k||e.__k,s=[],l=[],Ee(e,t=(!o&&n||e).__k=Te(fe,null,[t]),a||de,de,e.namespaceURI,!o&&n?[n]:a?null:e.firstChild?he.call(e.childNodes):null,s,!o&&n?n:a?a.__e:e.firstChild,o,l),Xe(s,t,l),t.props.children=null}he=_e.slice,C={__e:function(t,e,n,o){for(var a,s,l;e=e.__;)if((a=e.__c)&&!a.__)try{if((s=a.constructor)&&s.getDerivedStateFromError!=null&&(a.setState(s.getDerivedStateFromError(t)),l=a.__d),a.componentDidCatch!=null&&(a.componentDidCatch(t,o||{}),l=a.__d),l)return a.__E=a}catch(c){t=c}throw t}},He=0,Pt=function(t){return t!=null&&t.constructor===void 0},ue.prototype.setState=function(t,e){var n;n=this.__s!=null&&this.__s!=this.state?this.__s:this.__s=R({},this.state),typeof t=="function"&&(t=t(R({},n),this.props)),t&&R(n,t),t!=null&&this.__v&&(e&&this._sb.push(e),Ue(this))},ue.prototype.forceUpdate=function(t){this.__v&&(this.__e=!0,t&&this.__h.push(t),Ue(this))},ue.prototype.render=fe,F=[],We=typeof Promise=="function"?Promise.prototype.then.bind(Promise.resolve()):setTimeout,Be=function(t,e){return t.__v.__b-e.__v.__b},pe.__r=0,ke=Math.random().toString(8),le="__d"+ke,ne="__a"+ke,Fe=/(PointerCapture)$|Capture$/i,Se=0,xe=qe(!1),we=qe(!0),Dt=0;var oe,L,je,et,ge=0,lt=[],N=C,tt=N.__b,nt=N.__r,ot=N.diffed,st=N.__c,rt=N.unmount,at=N.__;function Ne(t,e){N.__h&&N.__h(L,t,ge||e),ge=0;var n=L.__H||(L.__H={__:[],__h:[]});return t>=n.__.length&&n.__.push({}),n.__[t]}function g(t){return ge=1,qt(dt,t)}function qt(t,e,n){var o=Ne(oe++,2);if(o.t=t,!o.__c&&(o.__=[n?n(e):dt(void 0,e),function(c){var _=o.__N?o.__N[0]:o.__[0],r=o.t(_,c);_!==r&&(o.__N=[r,o.__[1]],o.__c.setState({}))}],o.__c=L,!L.__f)){var a=function(c,_,r){if(!o.__c.__H)return!0;var p=!1,f=o.__c.props!==c;if(o.__c.__H.__.some(function(h){if(h.__N){p=!0;var v=h.__[0];h.__=h.__N,h.__N=void 0,v!==h.__[0]&&(f=!0)}}),s){var i=s.call(this,c,_,r);return p?i||f:i}return!p||f};L.__f=!0;var s=L.shouldComponentUpdate,l=L.componentWillUpdate;L.componentWillUpdate=function(c,_,r){if(this.__e){var p=s;s=void 0,a(c,_,r),s=p}l&&l.call(this,c,_,r)},L.shouldComponentUpdate=a}return o.__N||o.__}function Z(t,e){var n=Ne(oe++,3);!N.__s&&ut(n.__H,e)&&(n.__=t,n.u=e,L.__H.__h.push(n))}function ct(t){return ge=5,Ht(function(){return{current:t}},[])}function Ht(t,e){var n=Ne(oe++,7);return ut(n.__H,e)&&(n.__=t(),n.__H=e,n.__h=t),n.__}function Wt(){for(var t;t=lt.shift();){var e=t.__H;if(t.__P&&e)try{e.__h.some($e),e.__h.some(Le),e.__h=[]}catch(n){e.__h=[],N.__e(n,t.__v)}}}N.__b=function(t){L=null,tt&&tt(t)},N.__=function(t,e){t&&e.__k&&e.__k.__m&&(t.__m=e.__k.__m),at&&at(t,e)},N.__r=function(t){nt&&nt(t),oe=0;var e=(L=t.__c).__H;e&&(je===L?(e.__h=[],L.__h=[],e.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})):(e.__h.some($e),e.__h.some(Le),e.__h=[],oe=0)),je=L},N.diffed=function(t){ot&&ot(t);var e=t.__c;e&&e.__H&&(e.__H.__h.length&&(lt.push(e)!==1&&et===N.requestAnimationFrame||((et=N.requestAnimationFrame)||Bt)(Wt)),e.__H.__.some(function(n){n.u&&(n.__H=n.u,n.u=void 0)})),je=L=null},N.__c=function(t,e){e.some(function(n){try{n.__h.some($e),n.__h=n.__h.filter(function(o){return!o.__||Le(o)})}catch(o){e.some(function(a){a.__h&&(a.__h=[])}),e=[],N.__e(o,n.__v)}}),st&&st(t,e)},N.unmount=function(t){rt&&rt(t);var e,n=t.__c;n&&n.__H&&(n.__H.__.some(function(o){try{$e(o)}catch(a){e=a}}),n.__H=void 0,e&&N.__e(e,n.__v))};var it=typeof requestAnimationFrame=="function";function Bt(t){var e,n=function(){clearTimeout(o),it&&cancelAnimationFrame(e),setTimeout(t)},o=setTimeout(n,35);it&&(e=requestAnimationFrame(n))}function $e(t){var e=L,n=t.__c;typeof n=="function"&&(t.__c=void 0,n()),L=e}function Le(t){var e=L;t.__c=t.__(),L=e}function ut(t,e){return!t||t.length!==e.length||e.some(function(n,o){return n!==t[o]})}function dt(t,e){return typeof e=="function"?e(t):e}var Pe="keymgr.token",J={token:()=>sessionStorage.getItem(Pe),set:t=>sessionStorage.setItem(Pe,t),clear:()=>sessionStorage.removeItem(Pe)},Q=class extends Error{constructor(e,n,o){super(o||n||`HTTP ${e}`),this.status=e,this.code=n||""}};async function _t(t,e,n,o){let a={Accept:o||"application/json"},s=J.token();s&&(a.Authorization="Bearer "+s);let l={method:t,headers:a,cache:"no-store",credentials:"omit",referrerPolicy:"no-referrer"};n!==void 0&&(a["Content-Type"]="application/json",l.body=JSON.stringify(n));let c;try{c=await fetch(e,l)}catch(r){throw new Q(0,"network","keymgr cannot be reached: "+r.message)}let _=await c.text();if(!c.ok){let r=null;try{r=JSON.parse(_)}catch{}throw new Q(c.status,r&&r.error,r&&r.message||_||c.statusText)}return _}async function De(t,e,n){let o=await _t(t,e,n);return o?JSON.parse(o):null}var T=t=>De("GET",t),U=(t,e)=>De("POST",t,e),pt=t=>De("DELETE",t),Y=(t,e)=>_t("GET",t,void 0,e||"*/*");function q(t){let e=new URLSearchParams;for(let[o,a]of Object.entries(t))a!=null&&a!==""&&e.set(o,String(a));let n=e.toString();return n?"?"+n:""}var ye=(t,e,n)=>T(`/v1/keysets/${t}/usage`+q({from:e,to:n})),ht=t=>t.keys.reduce((e,n)=>e+n.hours.reduce((o,a)=>o+a.signatures,0),0);var ft=function(t,e,n,o){var a;e[0]=0;for(var s=1;s<e.length;s++){var l=e[s++],c=e[s]?(e[0]|=l?1:2,n[e[s++]]):e[++s];l===3?o[0]=c:l===4?o[1]=Object.assign(o[1]||{},c):l===5?(o[1]=o[1]||{})[e[++s]]=c:l===6?o[1][e[++s]]+=c+"":l?(a=t.apply(c,ft(t,c,n,["",null])),o.push(a),c[0]?e[0]|=2:(e[s-2]=0,e[s]=a)):o.push(c)}return o},mt=new Map;function $t(t){var e=mt.get(this);return e||(e=new Map,mt.set(this,e)),(e=ft(this,e.get(t)||(e.set(t,e=(function(n){for(var o,a,s=1,l="",c="",_=[0],r=function(i){s===1&&(i||(l=l.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?_.push(0,i,l):s===3&&(i||l)?(_.push(3,i,l),s=2):s===2&&l==="..."&&i?_.push(4,i,0):s===2&&l&&!i?_.push(5,0,!0,l):s>=5&&((l||!i&&s===5)&&(_.push(s,0,l,a),s=6),i&&(_.push(s,i,0,a),s=6)),l=""},p=0;p<n.length;p++){p&&(s===1&&r(),r(p));for(var f=0;f<n[p].length;f++)o=n[p][f],s===1?o==="<"?(r(),_=[_],s=3):l+=o:s===4?l==="--"&&o===">"?(s=1,l=""):l=o+l[0]:c?o===c?c="":l+=o:o==='"'||o==="'"?c=o:o===">"?(r(),s=1):s&&(o==="="?(s=5,a=l,l=""):o==="/"&&(s<5||n[p][f+1]===">")?(r(),s===3&&(_=_[0]),s=_,(_=_[0]).push(2,0,s),s=0):o===" "||o==="	"||o===`
`||o==="\r"?(r(),s=2):l+=o),s===3&&l==="!--"&&(s=4,_=_[0])}return r(),_})(t)),e),arguments,[])).length>1?e:e[0]}var d=$t.bind(Te),O=()=>Math.floor(Date.now()/1e3);function P(t){if(t==null||Number.isNaN(t))return"—";let e=t<0;t=Math.abs(Math.round(t));let n=[],o=[["d",86400],["h",3600],["m",60],["s",1]];for(let[a,s]of o)if((t>=s||a==="s"&&n.length===0)&&(n.push(Math.floor(t/s)+a),t%=s),n.length===2)break;return(e?"-":"")+n.join(" ")}function w(t){return t?new Date(t*1e3).toISOString().replace("T"," ").replace(/\.\d+Z$/,"Z"):"—"}var G=t=>t?w(Math.floor(t/1e3)):"—";function ve(t){if(!t)return"—";let e=t-O();return e>=0?"in "+P(e):P(-e)+" ago"}function se(t,e,n){let o=URL.createObjectURL(new Blob([e],{type:n})),a=document.createElement("a");a.href=o,a.download=t,document.body.appendChild(a),a.click(),a.remove(),setTimeout(()=>URL.revokeObjectURL(o),1e3)}function gt(t,e){let n=o=>{let a=o==null?"":typeof o=="object"?JSON.stringify(o):String(o);return/[",\n\r]/.test(a)?'"'+a.replace(/"/g,'""')+'"':a};return[e.join(","),...t.map(o=>e.map(a=>n(o[a])).join(","))].join(`
`)+`
`}var D={act:t=>t.role==="admin"||t.role==="ops",audit:t=>t.role==="admin"||t.role==="auditor",monitor:t=>t.role==="admin"||t.role==="ops"||t.role==="auditor",admin:t=>t.role==="admin"};function Ie(t){return(t.keys||[]).find(e=>e.kid===t.active_kid)}function be(t,e){let n=t.keys||[],o=O();if(n.some(c=>c.state==="compromised"&&c.state_changed_at>o-30*86400))return{level:"bad",text:"compromised key"};if(t.health&&t.health.overdue)return{level:"bad",text:"rotation overdue"};if(t.health&&t.health.problem)return{level:"bad",text:t.health.problem};if(e>0)return{level:"warn",text:e+(e===1?" alert":" alerts")};if(t.disabled)return{level:"warn",text:"disabled"};let a=Ie(t);if(!a)return{level:"bad",text:"no signing key"};let s=n.some(c=>c.state==="pre-activation"),l=(t.policy.prepublish||0)+(t.policy.rotation_lead||0);return!s&&a.deactivate_at-o<l?{level:"warn",text:"rotation due"}:{level:"ok",text:"OK"}}function yt(t){let e=O(),n=null,o={activate_at:"activates",deactivate_at:"stops signing",retire_at:"leaves JWKS",destroy_at:"destroyed"};for(let a of t.keys||[])if(!(a.state==="destroyed"||a.state==="compromised"))for(let s of Object.keys(o))a[s]>e&&(!n||a[s]<n.at)&&(n={at:a[s],what:`${a.kid.slice(0,8)}… ${o[s]}`});return n}function E({error:t}){if(!t)return null;let e=t.code?d`<code>${t.code}</code> `:"";return d`<div class="error" role="alert">${e}${t.message}</div>`}function ee({level:t,children:e}){return d`<span class=${"badge badge-"+t}>${e}</span>`}function A(t,e){let[n,o]=g({data:null,error:null,loading:!0}),[a,s]=g(0);return Z(()=>{let l=!0;return o(c=>({...c,loading:!0})),t().then(c=>l&&o({data:c,error:null,loading:!1}),c=>l&&o({data:null,error:c,loading:!1})),()=>{l=!1}},[...e,a]),{...n,reload:()=>s(l=>l+1)}}function te({title:t,description:e,fields:n=[],reasonRequired:o=!0,confirmLabel:a,danger:s,run:l,onDone:c,onCancel:_}){let[r,p]=g(()=>Object.fromEntries(n.map(S=>[S.name,S.value||""]))),[f,i]=g(""),[h,v]=g(null),[m,b]=g(!1),k=ct(null);return Z(()=>{k.current&&k.current.focus()},[]),d`
    <div class="backdrop">
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dlg-title" onKeyDown=${S=>{S.key==="Escape"&&_()}}>
        <form onSubmit=${async S=>{if(S.preventDefault(),o&&!f.trim()){v({message:"A reason is required: it is recorded in the ledger with your identity."});return}b(!0),v(null);try{let u=await l({...r,reason:f.trim()});c&&c(u)}catch(u){v(u),b(!1)}}}>
          <h2 id="dlg-title">${t}</h2>
          ${e&&d`<p>${e}</p>`}
          ${n.map(S=>d`
            <label class="field">${S.label}
              <input type=${S.type||"text"} name=${S.name} value=${r[S.name]} required=${!!S.required}
                onInput=${u=>p({...r,[S.name]:u.currentTarget.value})} />
            </label>`)}
          <label class="field">Reason${o?" (required)":""}
            <textarea name="reason" ref=${k} rows="2" value=${f} onInput=${S=>i(S.currentTarget.value)}></textarea>
          </label>
          <${E} error=${h} />
          <div class="buttons">
            <button type="button" onClick=${_}>Cancel</button>
            <button type="submit" class=${s?"danger":"primary"} disabled=${m}>${a||t}</button>
          </div>
        </form>
      </div>
    </div>`}function V({label:t,children:e}){return d`<pre class="pre" tabindex="0" aria-label=${t}>${e}</pre>`}async function Ft(t){let{keysets:e}=await T("/v1/keysets"),n=await Promise.all(e.map(l=>T("/v1/keysets/"+l.name))),o=[];if(D.monitor(t))try{o=(await T("/v1/alerts?state=open&limit=1000")).alerts||[]}catch{o=[]}let a=Math.floor((O()-3600)/3600)*3600,s={};return await Promise.all(n.map(async l=>{try{s[l.name]=ht(await ye(l.name,a))}catch{s[l.name]=null}})),{keysets:n,alerts:o,volume:s,since:a}}function Jt({onCreated:t}){let[e,n]=g({name:"",issuer:"",alg:"ES256",sign_period:""}),[o,a]=g(null),[s,l]=g(!1),c=r=>p=>n({...e,[r]:p.currentTarget.value});return d`<form class="inline-form" onSubmit=${async r=>{r.preventDefault(),l(!0),a(null);try{let p={name:e.name.trim(),issuer:e.issuer.trim(),alg:e.alg};e.sign_period.trim()&&(p.policy={sign_period:e.sign_period.trim()});let f=await U("/v1/keysets",p);n({name:"",issuer:"",alg:"ES256",sign_period:""}),t(f)}catch(p){a(p)}l(!1)}} aria-labelledby="create-h">
    <h2 id="create-h">Create a keyset</h2>
    <label class="field">Name <input name="name" value=${e.name} onInput=${c("name")} required pattern="[a-z0-9_-]+" /></label>
    <label class="field">Issuer URL <input name="issuer" value=${e.issuer} onInput=${c("issuer")} required placeholder=${location.origin+"/name"} /></label>
    <label class="field">Algorithm <select name="alg" value=${e.alg} onChange=${c("alg")}>
      ${["ES256","ES384","RS256","PS256","EdDSA"].map(r=>d`<option value=${r}>${r}</option>`)}</select></label>
    <label class="field">Sign period (optional) <input name="sign_period" value=${e.sign_period} onInput=${c("sign_period")} placeholder="e.g. 30d" /></label>
    <button type="submit" class="primary" disabled=${s}>Create keyset</button>
    <${E} error=${o} />
  </form>`}function vt({me:t}){let{data:e,error:n,loading:o,reload:a}=A(()=>Ft(t),[t.id]);return d`<section aria-labelledby="keysets-h">
    <h1 id="keysets-h">Keysets</h1>
    <${E} error=${n} />
    ${o&&!e&&d`<p>Loading…</p>`}
    ${e&&e.keysets.length===0&&d`<p>No keyset${t.role==="issuer"?" is bound to this token":" yet"}.</p>`}
    ${e&&e.keysets.length>0&&d`<div class="scroll" tabindex="0" role="region" aria-label="keysets table"><table class="grid" data-testid="keysets">
      <thead><tr><th scope="col">keyset</th><th scope="col">issuer</th><th scope="col">algorithm</th><th scope="col">health</th>
        <th scope="col">active key age</th><th scope="col">signatures since ${w(e.since).slice(11,16)} UTC</th><th scope="col">next scheduled event</th></tr></thead>
      <tbody>${e.keysets.map(s=>{let l=Ie(s),c=e.alerts.filter(p=>p.keyset===s.name).length,_=be(s,c),r=yt(s);return d`<tr data-keyset=${s.name}>
          <th scope="row"><a href=${"#/keysets/"+s.name}>${s.name}</a></th>
          <td><code>${s.issuer}</code></td>
          <td>${s.alg}</td>
          <td><${ee} level=${_.level}>${_.text}<//></td>
          <td>${l?P(O()-l.activate_at):"—"}</td>
          <td class="num">${e.volume[s.name]??"—"}</td>
          <td>${r?d`${ve(r.at)}: ${r.what}`:"—"}</td></tr>`})}</tbody></table></div>`}
    ${D.act(t)&&d`<${Jt} onCreated=${s=>{location.hash="#/keysets/"+s.name,a()}} />`}
  </section>`}var Ke=34,H=40,re=150,ae=1e3,W=3600,X=24,Vt=9600;function zt(t,e){let n=Math.min(Math.ceil(e/W),Math.floor(O()/W)+1)*W;return[Math.max(Math.floor(t/W)*W,n-Vt*W,0),n]}function Gt(t){let e=O(),n=t.keys||[],o=Math.min(e,...n.map(l=>l.created_at)),a=e+Math.max(t.policy.sign_period||3600,t.policy.verifier_cache||0)/2;for(let l of n)l.state!=="destroyed"&&(a=Math.max(a,l.retire_at||0));let s=(a-o)*.04||60;return[o-s,a+s]}function bt(t,e){return t==="seg-pre"?"prepublish "+P(e.prepublish):t==="seg-sign"?"signing · period "+P(e.sign_period):t==="seg-grace"?"grace "+P(e.verify_grace):"retired · destroy after "+P(e.destroy_after)}function Xt(t){let e=t.state==="compromised"?t.state_changed_at:1/0;return[[t.created_at,t.activate_at,"seg-pre","pre-publication"],[t.activate_at,t.deactivate_at,"seg-sign","signing window"],[t.deactivate_at,t.retire_at,"seg-grace","verification grace"],[t.retire_at,t.destroy_at,"seg-retired","retired (not published)"]].map(([o,a,s,l])=>[o,Math.min(a,e),s,l]).filter(([o,a])=>a>o)}var Zt=[["life","whole life"],["week","±3 days"],["day","±12 hours"],["hour","±1 hour"]],kt={week:3*86400,day:12*3600,hour:3600};function xt({ks:t}){let[e,n]=g("life"),o=[...t.keys||[]].sort((u,x)=>u.created_at-x.created_at),[a,s]=e==="life"?Gt(t):[O()-kt[e],O()+kt[e]],[l,c]=zt(a,s),_=A(()=>ye(t.name,l,c),[t,l,c]),r=u=>re+(Math.max(a,Math.min(s,u))-a)/(s-a)*(ae-re-10),p=O(),f=u=>u.hour+W>a&&u.hour<s,i=_.data?o.map(u=>{let x=_.data.keys.find(y=>y.kid===u.kid),M=x?x.hours.filter(f):[];return{k:u,hours:M,sum:M.reduce((y,I)=>y+I.signatures,0)}}).filter(u=>u.sum>0):[],h=Math.max(1,...i.flatMap(u=>u.hours.map(x=>x.signatures))),v=H+o.length*Ke+6,m=_.data?20+Math.max(1,i.length)*X:0,b=H+o.length*Ke+m+46,k=t.policy,$=o.find(u=>u.kid===t.active_kid),j=[];for(let u=0;u<=4;u++)j.push(a+(s-a)*u/4);let S=`Key timeline of ${t.name}: ${o.length} keys; `+o.map(u=>`${u.kid} ${u.state}, signs ${w(u.activate_at)} to ${w(u.deactivate_at)}, ${u.signatures??0} signatures in all`).join("; ")+(_.data?". Signatures in the range shown: "+(i.length?i.map(u=>`${u.k.kid} ${u.sum}`).join(", "):"none"):"");return d`
    <fieldset class="span-picker"><legend>Time range</legend>
      ${Zt.map(([u,x])=>d`<label><input type="radio" name="span" value=${u} checked=${e===u} onChange=${()=>n(u)} /> ${x}</label>`)}
    </fieldset>
    <figure class="timeline">
      <svg viewBox=${`0 0 ${ae} ${b}`} role="img" aria-label=${S} data-testid="timeline">
        ${j.map((u,x)=>d`<g>
          <line class="tick" x1=${r(u)} x2=${r(u)} y1=${H-8} y2=${b-40} />
          <text class="axis" x=${r(u)} y=${b-26} text-anchor=${x===0?"start":x===4?"end":"middle"}>${w(Math.round(u)).slice(5,16)}</text></g>`)}
        ${o.map((u,x)=>{let M=H+x*Ke;return d`<g class=${"lane state-"+u.state} data-kid=${u.kid}>
            <text class="kid" x="4" y=${M+17}>${u.kid.slice(0,12)}${u.kid===t.active_kid?" ★":""}</text>
            <text class="kstate" x="4" y=${M+29}>${u.state}${u.signatures!==void 0?` · ${u.signatures} signed`:""}<title>${u.signatures??0} signatures in all, ${u.last_signed_at?"last "+w(u.last_signed_at):"never signed"}</title></text>
            ${Xt(u).filter(([y,I])=>I>a&&y<s).map(([y,I,K,B])=>d`<rect class=${K} x=${r(y)} y=${M+6} width=${Math.max(1,r(I)-r(y))} height="20" rx="3"><title>${B}: ${w(y)} → ${w(I)}</title></rect>
              ${r(I)-r(y)>bt(K,k).length*6.2+8&&d`<text class=${"seg-text "+K+"-t"} x=${r(y)+4} y=${M+20}>${bt(K,k)}</text>`}`)}
            ${u.compromised_since&&d`<rect class="seg-exposed" x=${r(u.compromised_since)} y=${M+2} width=${Math.max(2,r(u.state_changed_at)-r(u.compromised_since))} height="4"><title>suspected exposure since ${w(u.compromised_since)}</title></rect>`}
            ${u.state==="compromised"&&d`<g><line class="mark-compromise" x1=${r(u.state_changed_at)} x2=${r(u.state_changed_at)} y1=${M+2} y2=${M+30} /><text class="mark-text bad" x=${r(u.state_changed_at)+4} y=${M+17}>compromised</text></g>`}
            ${u.state==="suspended"&&d`<text class="mark-text warn" x=${r(u.state_changed_at)+4} y=${M+17}>suspended</text>`}
            ${u.state==="destroyed"&&d`<text class="mark-text" x=${r(u.destroy_at)+4} y=${M+17}>destroyed</text>`}
          </g>`})}
        <line class="now" x1=${r(p)} x2=${r(p)} y1=${H-16} y2=${b-40} />
        <text class="now-label" x=${r(p)} y=${H-20} text-anchor="middle">now</text>
        ${_.data&&d`<g class="vol" data-testid="volume-bars">
          <text class="vol-head" x="4" y=${v+12}>signatures / hour<title>hourly signatures per key; the tallest bar is ${h}</title></text>
          ${i.length>0&&d`<text class="axis" x=${re} y=${v+12}>tallest bar: ${h} in an hour</text>`}
          ${i.length===0&&d`<text class="kstate" x=${re} y=${v+12+X*.7}>no signatures in the range shown</text>`}
          ${i.map((u,x)=>{let M=v+20+x*X;return d`<g class="vol-row" data-kid=${u.k.kid}>
              <text class="vol-label" x="4" y=${M+15}>${u.k.kid.slice(0,10)}: ${u.sum}</text>
              <line class="vol-base" x1=${re} x2=${ae-10} y1=${M+X-3} y2=${M+X-3} />
              ${u.hours.map(y=>{let I=Math.max(2,y.signatures/h*(X-6));return d`<rect class="bar" x=${r(y.hour)} y=${M+X-3-I} width=${Math.max(3,r(y.hour+W)-r(y.hour)-1)} height=${I}><title>${w(y.hour).slice(0,16)}–${w(y.hour+W).slice(11,16)} UTC: ${y.signatures} signatures</title></rect>`})}</g>`})}</g>`}
        ${$&&$.deactivate_at>p&&$.deactivate_at>s&&d`<text class="next-label" x=${ae-12} y=${H-26} text-anchor="end">next rotation ${w($.deactivate_at).slice(5,16)} →</text>`}
        ${$&&$.deactivate_at>p&&$.deactivate_at<=s&&d`<g>
          <line class="next" x1=${r($.deactivate_at)} x2=${r($.deactivate_at)} y1=${H-16} y2=${b-40} />
          <text class="next-label" x=${r($.deactivate_at)} y=${H-26} text-anchor=${r($.deactivate_at)>ae-120?"end":"middle"}>next rotation ${w($.deactivate_at).slice(5,16)}</text></g>`}
        <g class="policy">
          <line class="bracket" x1=${r(p)} x2=${r(p+k.verifier_cache)} y1=${b-12} y2=${b-12} />
          <text class="axis" x=${r(p)} y=${b-2}>now + verifier cache ${P(k.verifier_cache)}</text>
        </g>
      </svg>
      <figcaption>
        <span class="legend seg-pre-l">pre-publication (prepublish ${P(k.prepublish)})</span>
        <span class="legend seg-sign-l">signing window (sign period ${P(k.sign_period)})</span>
        <span class="legend seg-grace-l">verification grace (${P(k.verify_grace)})</span>
        <span class="legend seg-retired-l">retired (destroyed after ${P(k.destroy_after)})</span>
        <span class="legend">verifier cache ${P(k.verifier_cache)} · JWKS max-age ${P(k.jwks_max_age)} · max token TTL ${P(k.max_token_ttl)}</span>
      </figcaption>
    </figure>
    <${E} error=${_.error} />
    ${_.data&&d`<${Qt} keys=${o} volKeys=${i} from=${Math.max(a,l)} to=${Math.min(s,p)} />`}`}function Qt({keys:t,volKeys:e,from:n,to:o}){let a=t.filter(s=>s.signatures||e.some(l=>l.k.kid===s.kid));return a.length===0?d`<p>No key of this keyset has signed yet.</p>`:d`<table class="grid volume">
    <caption>Signatures per key, ${w(Math.round(n)).slice(0,16)} to ${w(Math.round(o)).slice(0,16)} UTC (the timeline's range, whole hours) and in all</caption>
    <thead><tr><th scope="col">key</th><th scope="col">state</th><th scope="col">in the range shown</th><th scope="col">in all</th><th scope="col">last signed</th></tr></thead>
    <tbody>${[...a].reverse().map(s=>{let l=e.find(c=>c.k.kid===s.kid);return d`<tr data-kid=${s.kid}>
        <th scope="row"><code title=${s.kid}>${s.kid.slice(0,16)}</code></th>
        <td>${s.state}</td>
        <td class="num" data-testid="volume-count">${l?l.sum:0}</td>
        <td class="num" data-testid="volume-total">${s.signatures??"—"}</td>
        <td>${s.last_signed_at?w(s.last_signed_at):"—"}</td></tr>`})}</tbody></table>`}var wt=t=>t?Math.floor(new Date(t).getTime()/1e3):void 0,St=t=>new Date((t-new Date().getTimezoneOffset()*60)*1e3).toISOString().slice(0,16);function Yt(t){let e="/v1/keysets/"+t.name;return{rotate:{title:"Rotate now",description:`The pre-published successor of ${t.name} starts signing now (or a new key is made).`,run:n=>U(e+"/rotate",{reason:n.reason})},emergency:{title:"Emergency rotate",danger:!0,description:"A new key is generated and signs at once, without pre-publication: verifiers that cached the JWKS will reject its tokens until they refetch.",run:n=>U(e+"/emergency-rotate",{reason:n.reason})},suspend:n=>({title:"Suspend key",description:`Key ${n.kid} stops signing; it stays in the JWKS.`,run:o=>U(`${e}/keys/${n.kid}/suspend`,{reason:o.reason})}),resume:n=>({title:"Resume key",description:`Key ${n.kid} signs again.`,run:o=>U(`${e}/keys/${n.kid}/resume`,{reason:o.reason})}),compromise:n=>({title:"Mark key compromised",danger:!0,description:`Key ${n.kid} leaves the JWKS at once (tokens it signed no longer verify) and a successor signs.`,fields:[{name:"since",label:"Suspected since",type:"datetime-local",value:St(n.activate_at)}],run:o=>U(`${e}/keys/${n.kid}/compromise`,{reason:o.reason,suspected_since:wt(o.since)})}),extend:n=>({title:"Extend signing window",description:`Key ${n.kid} signs until the given time.`,fields:[{name:"until",label:"Sign until",type:"datetime-local",required:!0,value:St(Math.max(n.deactivate_at,O())+86400)}],run:o=>U(`${e}/keys/${n.kid}/extend`,{reason:o.reason,until:wt(o.until)})})}}async function en(t,e){let n=await T("/v1/keysets/"+t),o=null;try{o=JSON.parse(await Y(`/v1/keysets/${t}/jwks.json`,"application/json"))}catch{o=null}return{ks:n,jwks:o}}function Ct({me:t,name:e}){let{data:n,error:o,reload:a}=A(()=>en(e,t),[e,t.id]),[s,l]=g(null),[c,_]=g("");if(o)return d`<section><h1>Keyset ${e}</h1><${E} error=${o} /></section>`;if(!n)return d`<section><h1>Keyset ${e}</h1><p>Loading…</p></section>`;let{ks:r,jwks:p}=n,f=Yt(r),i=be(r,0),h=(m,b)=>l({...m,onDone:()=>{l(null),_(b+" done"),a()}}),v=D.act(t);return d`<section aria-labelledby="ks-h">
    <h1 id="ks-h">Keyset ${r.name} <${ee} level=${i.level}>${i.text}<//></h1>
    <p class="meta">issuer <code>${r.issuer}</code> · ${r.alg} · JWKS <a href=${new URL(r.jwks_uri).pathname}>${r.jwks_uri}</a>
      ${r.health.last_error&&d` · last error: ${r.health.last_error}`}</p>
    ${c&&d`<p class="notice" role="status">${c}</p>`}
    ${v&&d`<div class="toolbar" aria-label="keyset actions">
      <button type="button" onClick=${()=>h(f.rotate,"Rotation")}>Rotate now…</button>
      <button type="button" class="danger" onClick=${()=>h(f.emergency,"Emergency rotation")}>Emergency rotate…</button>
      <a class="button" href=${"#/compromise/"+r.name}>Compromise response…</a>
    </div>`}
    <h2>Key timeline</h2>
    <${xt} ks=${r} />
    <h2>Keys</h2>
    <div class="scroll" tabindex="0" role="region" aria-label="keys table"><table class="grid" data-testid="keys">
      <thead><tr><th scope="col">kid</th><th scope="col">state</th><th scope="col">created</th><th scope="col">signs from</th><th scope="col">signs until</th>
        <th scope="col">leaves JWKS</th><th scope="col">destroyed</th><th scope="col">signatures</th>${v&&d`<th scope="col">actions</th>`}</tr></thead>
      <tbody>${[...r.keys].reverse().map(m=>d`<tr data-kid=${m.kid} class=${"state-"+m.state}>
        <th scope="row"><code title=${m.kid}>${m.kid.length>20?m.kid.slice(0,20)+"…":m.kid}</code>${m.kid===r.active_kid?" (signing)":""}${m.emergency?" (emergency)":""}</th>
        <td>${m.state}${m.compromised_since?d`<br /><small>suspected since ${w(m.compromised_since)}</small>`:""}</td>
        <td>${w(m.created_at)}</td><td>${w(m.activate_at)}</td><td>${w(m.deactivate_at)} <small>(${ve(m.deactivate_at)})</small></td>
        <td>${w(m.retire_at)}</td><td>${w(m.destroy_at)}</td>
        <td class="num"><span data-testid="key-signatures">${m.signatures!==void 0?m.signatures:"—"}</span><br /><small>${m.last_signed_at?"last "+w(m.last_signed_at):"never signed"}</small></td>
        ${v&&d`<td class="actions">
          ${m.state==="active"&&d`<button type="button" onClick=${()=>h(f.suspend(m),"Suspension")}>Suspend…</button>`}
          ${m.state==="suspended"&&d`<button type="button" onClick=${()=>h(f.resume(m),"Resume")}>Resume…</button>`}
          ${["active","deactivated","retired"].includes(m.state)&&d`<button type="button" onClick=${()=>h(f.extend(m),"Extension")}>Extend…</button>`}
          ${["pre-activation","active","suspended","deactivated","retired"].includes(m.state)&&d`<button type="button" class="danger" onClick=${()=>h(f.compromise(m),"Compromise")}>Compromise…</button>`}
        </td>`}
      </tr>`)}</tbody></table></div>
    <h2>Policy</h2>
    <dl class="policy-list">${Object.entries(r.policy).map(([m,b])=>d`<div><dt>${m}</dt><dd>${/^(sign_rate|sign_burst|max_signatures)$/.test(m)?b:P(b)}</dd></div>`)}</dl>
    <h2>JWKS as verifiers see it</h2>
    ${p?d`<p>${p.keys.length} keys published: ${p.keys.map(m=>d`<code class="kid-chip">${m.kid}</code> `)}</p>
      <${V} label="JWKS document">${JSON.stringify(p,null,2)}<//>`:d`<p>The JWKS could not be read.</p>`}
    ${s&&d`<${te} ...${s} onCancel=${()=>l(null)} />`}
  </section>`}var Ae=["keyset","kid","sub","jti","actor","outcome","kind"],Tt=t=>t?new Date(t).getTime():void 0;function tn({e:t,onClose:e}){let{data:n,error:o}=A(()=>T("/v1/audit/proof?seq="+t.seq),[t.seq]);return d`<section class="panel" aria-labelledby="entry-h" data-testid="entry-detail">
    <h2 id="entry-h">Ledger entry ${t.seq} <button type="button" onClick=${e}>Close</button></h2>
    <${V} label="ledger entry">${JSON.stringify(t,null,2)}<//>
    <h3>Inclusion proof</h3>
    ${o&&d`<p>No proof yet: <${E} error=${o} /></p>`}
    ${n&&d`<p>Leaf ${n.index} of a tree of ${n.tree_size} entries; ${n.path.length} hashes on the audit path.</p>
      <${V} label="inclusion proof">${n.proof}<//>
      <h3>Checkpoint</h3><${V} label="checkpoint">${n.checkpoint}<//>`}
  </section>`}function Et({params:t}){let[e,n]=g(()=>Object.fromEntries([...Ae,"from","to"].map(u=>[u,t.get(u)||""]))),[o,a]=g(e),[s,l]=g([void 0]),[c,_]=g(null),[r,p]=g(null),[f,i]=g(null),h={...Object.fromEntries(Ae.map(u=>[u,o[u]])),from:Tt(o.from),to:Tt(o.to)},v=s[s.length-1],{data:m,error:b,loading:k}=A(()=>T("/v1/audit/ledger"+q({...h,limit:50,cursor:v})),[JSON.stringify(h),v]),$=u=>{u.preventDefault(),a(e),l([void 0]),_(null)},j=async u=>{i(null);try{let x=await Y("/v1/audit/export"+q({...h,format:u}));se("ledger."+(u==="csv"?"csv":"ndjson"),x,u==="csv"?"text/csv":"application/x-ndjson")}catch(x){i(x)}},S=async()=>{p({running:!0});try{p({result:await T("/v1/audit/verify")})}catch(u){p({error:u})}};return d`<section aria-labelledby="ledger-h">
    <h1 id="ledger-h">Ledger</h1>
    <form class="filters" onSubmit=${$} aria-label="ledger filters">
      ${Ae.map(u=>d`<label class="field">${u==="actor"?"caller":u} <input name=${u} value=${e[u]} onInput=${x=>n({...e,[u]:x.currentTarget.value})} /></label>`)}
      <label class="field">from <input type="datetime-local" name="from" value=${e.from} onInput=${u=>n({...e,from:u.currentTarget.value})} /></label>
      <label class="field">to <input type="datetime-local" name="to" value=${e.to} onInput=${u=>n({...e,to:u.currentTarget.value})} /></label>
      <button type="submit" class="primary">Apply filters</button>
    </form>
    <div class="toolbar">
      <button type="button" onClick=${()=>j("ndjson")}>Export NDJSON</button>
      <button type="button" onClick=${()=>j("csv")}>Export CSV</button>
      <button type="button" onClick=${S}>Verify ledger</button>
    </div>
    <${E} error=${f||b} />
    ${r&&d`<div class=${"verify "+(r.result?r.result.ok?"ok":"bad":"")} role="status" data-testid="verify-result">
      ${r.running&&"Verifying the whole ledger…"}
      ${r.error&&d`<${E} error=${r.error} />`}
      ${r.result&&d`<strong>${r.result.ok?"Ledger verified":"Ledger verification FAILED"}</strong>: ${r.result.entries} entries, tree size ${r.result.tree_size}, ${r.result.checkpoints_checked}/${r.result.checkpoints} checkpoints checked${r.result.problem?" — "+r.result.problem:""}`}
    </div>`}
    ${c&&d`<${tn} e=${c} onClose=${()=>_(null)} />`}
    ${k&&!m&&d`<p>Loading…</p>`}
    ${m&&d`<div class="scroll" tabindex="0" role="region" aria-label="ledger entries"><table class="grid" data-testid="ledger">
      <thead><tr><th scope="col">seq</th><th scope="col">time (UTC)</th><th scope="col">kind</th><th scope="col">event</th><th scope="col">keyset</th><th scope="col">kid</th>
        <th scope="col">caller</th><th scope="col">outcome</th><th scope="col">sub / jti</th><th scope="col">reason</th></tr></thead>
      <tbody>${m.entries.map(u=>d`<tr class=${c&&c.seq===u.seq?"selected":""}>
        <th scope="row"><button type="button" class="link" onClick=${()=>_(u)} aria-label=${"details of entry "+u.seq}>${u.seq}</button></th>
        <td>${G(u.ts_ms)}</td><td>${u.kind}</td><td>${u.event}</td><td>${u.keyset}</td><td><code>${(u.kid||"").slice(0,12)}</code></td>
        <td>${u.actor}</td><td>${u.outcome}</td><td>${u.sub||""}${u.jti?d` <small>${u.jti.slice(0,12)}</small>`:""}</td><td>${u.reason}</td></tr>`)}
      </tbody></table></div>
      <nav class="pager" aria-label="ledger pages">
        <button type="button" disabled=${s.length===1} onClick=${()=>l(s.slice(0,-1))}>← Newer</button>
        <span>page ${s.length}</span>
        <button type="button" disabled=${m.next_cursor===null} onClick=${()=>l([...s,m.next_cursor])}>Older →</button>
      </nav>`}
  </section>`}var nn=["seq","ts_ms","kid","jti","sub","aud","iat","exp","token_sha256","actor"];function on({me:t,name:e,kid:n,since:o,before:a}){let{data:s,error:l}=A(async()=>{let i=await T("/v1/keysets/"+e),h=JSON.parse(await Y(`/v1/keysets/${e}/jwks.json`,"application/json")),v=await T("/v1/audit/affected"+q({kid:n,since:o})),m=null;return D.audit(t)&&(m=(await T("/v1/audit/ledger"+q({keyset:e,limit:10}))).entries),{ks:i,jwks:h,affected:v,entries:m}},[e,n]);if(l)return d`<${E} error=${l} />`;if(!s)return d`<p>Reading the outcome…</p>`;let{ks:c,jwks:_,affected:r,entries:p}=s,f=_.keys.some(i=>i.kid===n);return d`<section class="panel" aria-labelledby="outcome-h" data-testid="compromise-outcome">
    <h2 id="outcome-h">What happened</h2>
    <ol class="steps">
      <li class=${f?"bad":"ok"}>Key <code>${n}</code> ${f?"is STILL in the JWKS":"was removed from the JWKS"} (${_.keys.length} ${_.keys.length===1?"key":"keys"} published now).</li>
      <li class=${c.active_kid&&c.active_kid!==n?"ok":"bad"}>${c.active_kid?d`Successor <code>${c.active_kid}</code> signs${a&&a!==c.active_kid&&a!==n,""}.`:"No key signs: rotate or investigate."}</li>
      <li>Tokens signed by the key since ${w(o)} that are still valid: <strong data-testid="affected-count">${r.count}</strong>.</li>
    </ol>
    ${r.count>0&&d`
      <div class="toolbar">
        <button type="button" onClick=${()=>se(`affected-${n}.csv`,gt(r.tokens,nn),"text/csv")}>Export CSV</button>
        <button type="button" onClick=${()=>se(`affected-${n}.ndjson`,r.tokens.map(i=>JSON.stringify(i)).join(`
`)+`
`,"application/x-ndjson")}>Export NDJSON</button>
      </div>
      <div class="scroll" tabindex="0" role="region" aria-label="affected tokens"><table class="grid" data-testid="affected">
        <thead><tr><th scope="col">seq</th><th scope="col">signed (UTC)</th><th scope="col">sub</th><th scope="col">jti</th><th scope="col">expires (UTC)</th><th scope="col">caller</th></tr></thead>
        <tbody>${r.tokens.slice(0,200).map(i=>d`<tr><th scope="row">${i.seq}</th><td>${G(i.ts_ms)}</td><td>${i.sub}</td><td><code>${i.jti}</code></td><td>${w(i.exp)}</td><td>${i.actor}</td></tr>`)}</tbody>
      </table></div>${r.count>200&&d`<p>First 200 of ${r.count}; the export has all.</p>`}`}
    ${p&&d`<h3>Recorded in the ledger</h3>
      <${V} label="latest ledger entries of the keyset">${p.map(i=>`#${i.seq} ${G(i.ts_ms)} ${i.kind}/${i.event} kid=${i.kid} by ${i.actor} ${i.outcome}${i.reason?" — "+i.reason:""}`).join(`
`)}<//>`}
    <p><a href=${"#/keysets/"+e}>See the keyset's timeline</a></p>
  </section>`}function Mt({me:t,name:e}){let{data:n,error:o}=A(()=>T("/v1/keysets"),[t.id]),[a,s]=g(e||""),l=A(()=>a?T("/v1/keysets/"+a):Promise.resolve(null),[a]),[c,_]=g(""),[r,p]=g(""),[f,i]=g(""),[h,v]=g(!1),[m,b]=g(!1),[k,$]=g(null),[j,S]=g(null);if(!D.act(t))return d`<section><h1>Compromise response</h1><p>Marking a key compromised needs an ops or admin token.</p></section>`;let u=l.data?l.data.keys.filter(y=>!["compromised","destroyed"].includes(y.state)):[],x=u.find(y=>y.kid===c);return d`<section aria-labelledby="cmp-h">
    <h1 id="cmp-h">Compromise response</h1>
    <${E} error=${o} />
    ${!j&&d`<form class="steps-form" onSubmit=${async y=>{if(y.preventDefault(),$(null),!f.trim()){$({message:"A reason is required: it is recorded in the ledger with your identity."});return}if(!h){$({message:"Tick the confirmation first."});return}let I=r?Math.floor(new Date(r).getTime()/1e3):x.activate_at;b(!0);try{await U(`/v1/keysets/${a}/keys/${c}/compromise`,{reason:f.trim(),suspected_since:I}),S({name:a,kid:c,since:I,before:l.data.active_kid})}catch(K){$(K)}b(!1)}}>
      <fieldset><legend>1. Choose the key</legend>
        <label class="field">Keyset <select name="keyset" value=${a} onChange=${y=>{s(y.currentTarget.value),_("")}}>
          <option value="">— choose —</option>
          ${n&&n.keysets.map(y=>d`<option value=${y.name}>${y.name}</option>`)}</select></label>
        <label class="field">Key <select name="kid" value=${c} onChange=${y=>_(y.currentTarget.value)} disabled=${!a}>
          <option value="">— choose —</option>
          ${u.map(y=>d`<option value=${y.kid}>${y.kid} (${y.state})</option>`)}</select></label>
      </fieldset>
      <fieldset disabled=${!x}><legend>2. Describe the compromise</legend>
        <label class="field">Reason (required) <input name="reason" value=${f} onInput=${y=>i(y.currentTarget.value)} /></label>
        <label class="field">Suspected since (default: the key's first signature, ${x?w(x.activate_at):"—"}) <input type="datetime-local" name="since" value=${r} max=${new Date((O()+60)*1e3).toISOString().slice(0,16)} onInput=${y=>p(y.currentTarget.value)} /></label>
      </fieldset>
      <fieldset disabled=${!x}><legend>3. Confirm</legend>
        <label class="check"><input type="checkbox" name="confirm" checked=${h} onChange=${y=>v(y.currentTarget.checked)} />
          I understand: the key leaves the JWKS now, every token it signed stops verifying, and a successor signs.</label>
        <button type="submit" class="danger" disabled=${m||!x}>Mark ${c?c.slice(0,12):"key"} compromised</button>
      </fieldset>
      <${E} error=${k} />
    </form>`}
    ${j&&d`<${on} me=${t} ...${j} />`}
  </section>`}function jt({me:t}){let[e,n]=g("open"),{data:o,error:a,reload:s}=A(()=>T("/v1/alerts"+q({state:e,limit:200})),[e]),[l,c]=g(null),_=r=>r==="critical"?"bad":r==="warning"?"warn":"ok";return d`<section aria-labelledby="alerts-h">
    <h1 id="alerts-h">Alerts</h1>
    <label class="field">Show <select name="state" value=${e} onChange=${r=>n(r.currentTarget.value)}>
      <option value="open">open</option><option value="acknowledged">acknowledged</option><option value="all">all</option></select></label>
    <${E} error=${a} />
    ${o&&o.alerts.length===0&&d`<p>No ${e==="all"?"":e+" "}alerts.</p>`}
    ${o&&o.alerts.length>0&&d`<div class="scroll" tabindex="0" role="region" aria-label="alerts table"><table class="grid" data-testid="alerts">
      <thead><tr><th scope="col">raised (UTC)</th><th scope="col">severity</th><th scope="col">kind</th><th scope="col">keyset / key</th><th scope="col">summary</th><th scope="col">seen</th><th scope="col">state</th></tr></thead>
      <tbody>${o.alerts.map(r=>d`<tr>
        <td>${G(r.raised_at_ms)}</td><td><${ee} level=${_(r.severity)}>${r.severity}<//></td><td>${r.kind}</td>
        <td><a href=${"#/keysets/"+r.keyset}>${r.keyset}</a> <code>${(r.kid||"").slice(0,12)}</code></td><td>${r.summary}</td><td class="num">${r.occurrences}</td>
        <td>${r.acknowledged?d`acknowledged by ${r.acknowledgement.by}: ${r.acknowledgement.reason}`:D.act(t)?d`<button type="button" onClick=${()=>c({title:"Acknowledge alert",description:r.summary,run:p=>U(`/v1/alerts/${r.id}/ack`,{reason:p.reason}),onDone:()=>{c(null),s()}})}>Acknowledge…</button>`:"open"}</td></tr>`)}
      </tbody></table></div>`}
    ${l&&d`<${te} ...${l} onCancel=${()=>c(null)} />`}
  </section>`}function Lt(){let{data:t,error:e,reload:n}=A(()=>T("/v1/tokens"),[]),[o,a]=g({name:"",role:"issuer",keysets:""}),[s,l]=g(null),[c,_]=g(null),[r,p]=g(null);return d`<section aria-labelledby="tokens-h">
    <h1 id="tokens-h">API tokens</h1>
    <form class="inline-form" onSubmit=${async i=>{i.preventDefault(),_(null);try{let h=o.keysets.split(",").map(v=>v.trim()).filter(Boolean);l(await U("/v1/tokens",{name:o.name.trim(),role:o.role,keysets:h})),a({name:"",role:"issuer",keysets:""}),n()}catch(h){_(h)}}} aria-labelledby="newtok-h">
      <h2 id="newtok-h">Create a token</h2>
      <label class="field">Name <input name="name" required value=${o.name} onInput=${i=>a({...o,name:i.currentTarget.value})} /></label>
      <label class="field">Role <select name="role" value=${o.role} onChange=${i=>a({...o,role:i.currentTarget.value})}>
        ${["issuer","auditor","ops","admin","verifier"].map(i=>d`<option value=${i}>${i}</option>`)}</select></label>
      <label class="field">Keysets (issuer; comma-separated) <input name="keysets" value=${o.keysets} onInput=${i=>a({...o,keysets:i.currentTarget.value})} /></label>
      <button type="submit" class="primary">Create token</button>
      <${E} error=${c} />
    </form>
    ${s&&d`<div class="secret" role="status" data-testid="new-token">
      <p><strong>Token "${s.name}" (${s.role}) created.</strong> Copy it now: it is shown once and keymgr keeps only its hash.</p>
      <label class="field">Secret <input readonly name="secret" value=${s.token} onFocus=${i=>i.currentTarget.select()} /></label>
      <button type="button" onClick=${()=>l(null)}>I have copied it</button></div>`}
    <${E} error=${e} />
    ${t&&d`<div class="scroll" tabindex="0" role="region" aria-label="API tokens table"><table class="grid" data-testid="tokens">
      <thead><tr><th scope="col">name</th><th scope="col">id</th><th scope="col">role</th><th scope="col">keysets</th><th scope="col">created (UTC)</th><th scope="col">state</th></tr></thead>
      <tbody>${t.tokens.map(i=>d`<tr data-token=${i.name}>
        <th scope="row">${i.name}</th><td><code>${i.id}</code></td><td>${i.role}</td><td>${i.keysets.join(", ")}</td><td>${w(i.created_at)}</td>
        <td>${i.revoked_at?"revoked "+w(i.revoked_at):d`<button type="button" class="danger" onClick=${()=>p({title:"Revoke token",danger:!0,reasonRequired:!1,description:`Token "${i.name}" stops working at once.`,run:()=>pt("/v1/tokens/"+i.id),onDone:()=>{p(null),n()}})}>Revoke…</button>`}</td></tr>`)}
      </tbody></table></div>`}
    ${r&&d`<${te} ...${r} onCancel=${()=>p(null)} />`}
  </section>`}function sn(){let[t,e]=g(location.hash);return Z(()=>{let n=()=>e(location.hash);return addEventListener("hashchange",n),()=>removeEventListener("hashchange",n)},[]),t}function rn({onSignedIn:t,error:e}){let[n,o]=g(""),[a,s]=g(e),[l,c]=g(!1);return d`<main id="main" class="signin">
    <h1>keymgr console</h1>
    <form onSubmit=${async r=>{r.preventDefault(),c(!0),s(null),J.set(n.trim());try{t(await T("/v1/whoami"))}catch(p){J.clear(),s(p),c(!1)}}} aria-labelledby="signin-h">
      <h2 id="signin-h">Sign in</h2>
      <p>Paste an API token (<code>km_…</code>). It is kept in this tab only (sessionStorage) until you sign out or close the tab.</p>
      <label class="field">API token <input type="password" name="token" autocomplete="off" spellcheck="false" required value=${n} onInput=${r=>o(r.currentTarget.value)} /></label>
      <button type="submit" class="primary" disabled=${l}>Sign in</button>
      <${E} error=${a} />
    </form>
  </main>`}function an(t){let[e,n]=t.replace(/^#/,"").split("?");return{parts:e.split("/").filter(Boolean),params:new URLSearchParams(n||"")}}function ln({me:t,current:e,onSignOut:n}){let o=[["keysets","Keysets",!0],["ledger","Ledger",D.audit(t)],["compromise","Compromise response",D.act(t)],["alerts","Alerts",D.monitor(t)],["tokens","API tokens",D.admin(t)]];return d`<header class="top">
    <a class="brand" href="#/keysets">keymgr</a>
    <nav aria-label="screens"><ul>${o.filter(a=>a[2]).map(([a,s])=>d`<li>
      <a href=${"#/"+a} aria-current=${e===a?"page":void 0}>${s}</a></li>`)}</ul></nav>
    <span class="who" data-testid="who">${t.name} <span class="role">${t.role}</span></span>
    <button type="button" onClick=${n}>Sign out</button>
  </header>`}function cn(){let t=sn(),[e,n]=g(null),[o,a]=g(null),[s,l]=g(!!J.token());Z(()=>{J.token()&&T("/v1/whoami").then(n,i=>{i instanceof Q&&i.status===401&&J.clear(),a(i)}).finally(()=>l(!1))},[]);let c=()=>{J.clear(),n(null),a(null),location.hash=""};if(s)return d`<main id="main"><p>Signing in…</p></main>`;if(!e)return d`<${rn} error=${o} onSignedIn=${i=>{n(i),location.hash||(location.hash="#/keysets")}} />`;let{parts:_,params:r}=an(t),p=_[0]||"keysets",f;return p==="keysets"&&_[1]?f=d`<${Ct} me=${e} name=${_[1]} key=${_[1]} />`:p==="ledger"&&D.audit(e)?f=d`<${Et} me=${e} params=${r} />`:p==="compromise"?f=d`<${Mt} me=${e} name=${_[1]} key=${_[1]||""} />`:p==="alerts"&&D.monitor(e)?f=d`<${jt} me=${e} />`:p==="tokens"&&D.admin(e)?f=d`<${Lt} me=${e} />`:f=d`<${vt} me=${e} />`,d`<${ln} me=${e} current=${p} onSignOut=${c} />
    <main id="main">${f}</main>
    <footer class="foot">Signed in as ${e.name} (${e.role})${e.keysets.length?" for "+e.keysets.join(", "):""}. Every action is recorded in the ledger under this token.</footer>`}var Nt=document.getElementById("app");Nt.textContent="";Ye(d`<${cn} />`,Nt);
